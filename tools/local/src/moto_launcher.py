"""moto server with DynamoDB requests made atomic, as DynamoDB makes them.

moto serves requests on threads and its DynamoDB backend checks a condition expression and applies the
update in separate steps without a lock, so two concurrent conditional writes can both pass their check:
DynamoDB never allows that, and the pipeline's claims rely on it (a duplicate S3 event in the same batch
was seen to be processed twice against moto, about once in a few dozen test runs). One lock around each
DynamoDB request restores the guarantee; S3 and SQS requests (SQS long polls) stay concurrent.

Run by tools/local/src/moto.rs with the moto venv's python: `python -c <this file> -H HOST -p PORT`.
"""
import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_dynamodb = threading.Lock()
_call_action = DynamoHandler.call_action


def _atomic_call_action(self):
    with _dynamodb:
        return _call_action(self)


DynamoHandler.call_action = _atomic_call_action
main(sys.argv[1:])
