"""A webhook receiver that checks signatures with the Standard Webhooks reference implementation.

    python webhook_receiver.py SECRET

Listens on 127.0.0.1 (a free port, printed as the first line), and prints one JSON line per request:
{"path", "verified", "webhook_id", "payload"}. Paths: /ok answers 204 when the signature verifies (401
otherwise); /fail always answers 500; /redirect answers 302 to /ok (a sender must not follow it).
Run by tools/local/tests/webhooks.rs with the moto venv's python (tools/local/requirements.txt).
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET = sys.argv[1]
_print = threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            payload = Webhook(SECRET).verify(body, headers)
            verified = True
        except WebhookVerificationError:
            payload, verified = None, False
        with _print:
            print(json.dumps({"path": self.path, "verified": verified, "webhook_id": headers.get("webhook-id"),
                              "payload": payload}), flush=True)
        if self.path == "/fail":
            self.send_response(500)
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok")
        else:
            self.send_response(204 if verified else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
print(server.server_address[1], flush=True)
server.serve_forever()
