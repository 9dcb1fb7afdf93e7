"""Checks a presigned S3 upload the way S3 does, with botocore's SigV4 implementation (not ours).

S3 verifies a presigned request by recomputing its signature over the request as received: the method,
the path, the query parameters other than the signature, and the headers the URL names in
X-Amz-SignedHeaders, with the values the client actually sends. So a signed header whose value differs
(another Content-Length), a signed header left out (no If-None-Match) or another key gives another
signature, and S3 answers 403 SignatureDoesNotMatch. moto does not verify signatures; this does.

Reads JSON on stdin: {"method", "url", "headers": {name: value}, "access_key", "secret_key", "region",
"bucket", "key", "content_type", "content_length"}. Prints JSON: whether the request as issued verifies,
whether each tampered request does, the signed headers, and whether botocore's own presigned URL for the
same PutObject, at the same time, asks for the same request.

Run by tools/local/tests/presign.rs with the moto venv's python (botocore is one of moto's dependencies).
"""
import datetime
import json
import sys
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import botocore.auth
import botocore.session
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

AUTH_PARAMS = {
    "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
    "X-Amz-Signature", "X-Amz-Security-Token",
}


def frozen_at(timestamp):
    moment = datetime.datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ")
    botocore.auth.get_current_datetime = lambda *args, **kwargs: moment


def signature_of(query):
    return dict(parse_qsl(query, keep_blank_values=True)).get("X-Amz-Signature")


def verifies(spec, issued, method, url, headers):
    """Whether S3 would accept `method url` with `headers` under the issued URL's signature."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    auth = dict(query)
    signed = auth["X-Amz-SignedHeaders"].split(";")
    sent = {name.lower(): value for name, value in headers.items()}
    # A signed header the request lacks cannot take part in the signature: S3 refuses it.
    if any(name != "host" and name not in sent for name in signed):
        return False
    operation = [(k, v) for k, v in query if k not in AUTH_PARAMS]
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(operation), ""))
    request = AWSRequest(method=method, url=base,
                         headers={name: sent[name] for name in signed if name != "host"})
    frozen_at(auth["X-Amz-Date"])
    signer = botocore.auth.S3SigV4QueryAuth(
        Credentials(spec["access_key"], spec["secret_key"]), "s3", spec["region"],
        expires=int(auth["X-Amz-Expires"]))
    signer.add_auth(request)
    recomputed = urlsplit(request.url)
    return (signature_of(recomputed.query) == signature_of(urlsplit(issued).query)
            and dict(parse_qsl(recomputed.query))["X-Amz-SignedHeaders"] == auth["X-Amz-SignedHeaders"])


def botocore_presigned(spec, timestamp, expires):
    frozen_at(timestamp)
    session = botocore.session.get_session()
    client = session.create_client(
        "s3", region_name=spec["region"], aws_access_key_id=spec["access_key"],
        aws_secret_access_key=spec["secret_key"],
        config=Config(signature_version="s3v4",
                      s3={"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"}))
    return client.generate_presigned_url("put_object", ExpiresIn=expires, Params={
        "Bucket": spec["bucket"], "Key": spec["key"], "ContentType": spec["content_type"],
        "ContentLength": spec["content_length"], "IfNoneMatch": "*"})


def same_request(ours, theirs):
    a, b = urlsplit(ours), urlsplit(theirs)
    params = lambda q: {k: v for k, v in parse_qsl(q) if k not in ("X-Amz-Signature", "x-id")}
    return (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path) and params(a.query) == params(b.query)


def main():
    spec = json.load(sys.stdin)
    method, url, headers = spec["method"], spec["url"], spec["headers"]
    auth = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    other_length = dict(headers, **{k: str(int(v) + 1) for k, v in headers.items() if k.lower() == "content-length"})
    other_type = dict(headers, **{k: "image/jpeg" if v != "image/jpeg" else "image/png"
                                  for k, v in headers.items() if k.lower() == "content-type"})
    without_if_none_match = {k: v for k, v in headers.items() if k.lower() != "if-none-match"}
    parts = urlsplit(url)
    other_key = urlunsplit((parts.scheme, parts.netloc, parts.path + "x", parts.query, ""))
    theirs = botocore_presigned(spec, auth["X-Amz-Date"], int(auth["X-Amz-Expires"]))
    print(json.dumps({
        "signed_headers": auth["X-Amz-SignedHeaders"].split(";"),
        "as_issued": verifies(spec, url, method, url, headers),
        "other_length": verifies(spec, url, method, url, other_length),
        "other_type": verifies(spec, url, method, url, other_type),
        "without_if_none_match": verifies(spec, url, method, url, without_if_none_match),
        "other_key": verifies(spec, url, method, other_key, headers),
        "as_get": verifies(spec, url, "GET", url, headers),
        # botocore's own URL for the same PutObject differs only by the SDK's `x-id=PutObject` marker
        # (a query parameter S3 ignores but that is signed like any other): same host, path, credential
        # scope, time, expiry and signed headers.
        "botocore_same_request": same_request(url, theirs),
        "botocore_url": theirs,
    }))


if __name__ == "__main__":
    main()
