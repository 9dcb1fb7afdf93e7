"""moto server, made to behave as AWS does where the pipeline depends on it.

1. DynamoDB requests are atomic. moto serves requests on threads and its DynamoDB backend checks a
   condition expression and applies the update in separate steps without a lock, so two concurrent
   conditional writes can both pass their check: DynamoDB never allows that, and the pipeline's claims
   rely on it (a duplicate S3 event in the same batch was seen to be processed twice against moto, about
   once in a few dozen test runs). One lock around each DynamoDB request restores the guarantee; S3 and
   SQS requests (SQS long polls) stay concurrent.
2. S3 event notifications carry what real S3's carry (the event structure AWS documents, version 2.1):
   the writer's `userIdentity.principalId`, `requestParameters`, `responseElements`, the bucket's
   `ownerIdentity`, and the object's `versionId` (versioned buckets) and `sequencer`. moto's events have
   none of these, so without this the pipeline's paths that use them (a job per object version, the
   uploader as owner, ordering by sequencer) could not run locally at all. The principal is derived from
   the access key that signed the request (header or presigned query), as an IAM user's unique id would
   be: one key, one principal; another key, another.

Run by tools/local/src/moto.rs with the moto venv's python: `python -c <this file> -H HOST -p PORT`.
"""
import hashlib
import itertools
import re
import sys
import threading

from moto.core.responses import BaseResponse
from moto.dynamodb.responses import DynamoHandler
from moto.s3 import notifications
from moto.server import main

_dynamodb = threading.Lock()
_call_action = DynamoHandler.call_action


def _atomic_call_action(self):
    with _dynamodb:
        return _call_action(self)


DynamoHandler.call_action = _atomic_call_action

# The request being served on this thread: S3 sends its notifications while serving the write.
_request = threading.local()
_setup_class = BaseResponse.setup_class
_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/|X-Amz-Credential=([A-Z0-9]+)(?:%2F|/)")


def _remember_request(self, request, full_url=None, headers=None, *args, **kwargs):
    authorization = ""
    try:
        authorization = request.headers.get("Authorization", "") or ""
    except AttributeError:
        pass
    match = _CREDENTIAL.search(authorization) or _CREDENTIAL.search(full_url or "")
    _request.access_key = next((g for g in match.groups() if g), None) if match else None
    return _setup_class(self, request, full_url, headers, *args, **kwargs)


BaseResponse.setup_class = _remember_request


def principal_id(access_key):
    """An IAM user's unique id (`AIDA` + 17 characters) standing for the access key's owner."""
    digest = hashlib.sha256((access_key or "anonymous").encode()).hexdigest().upper()
    return "AIDA" + digest[:17]


# S3's sequencer: a hex string that orders the events of one key (compared after padding to one length).
_sequence = itertools.count(1)
_sequence_lock = threading.Lock()
_get_s3_event = notifications._get_s3_event


def _s3_event_as_aws_sends_it(event_name, bucket, key, notification_id):
    event = _get_s3_event(event_name, bucket, key, notification_id)
    access_key = getattr(_request, "access_key", None)
    principal = principal_id(access_key)
    with _sequence_lock:
        sequencer = "%016X" % next(_sequence)
    for record in event["Records"]:
        record["userIdentity"] = {"principalId": "AWS:" + principal}
        record["requestParameters"] = {"sourceIPAddress": "127.0.0.1"}
        record["responseElements"] = {
            "x-amz-request-id": sequencer,
            "x-amz-id-2": hashlib.sha256(sequencer.encode()).hexdigest(),
        }
        record["s3"]["bucket"]["ownerIdentity"] = {"principalId": principal_id("bucket-owner")}
        obj = record["s3"]["object"]
        if bucket.is_versioned and key.version_id not in (None, "null"):
            obj["versionId"] = key.version_id
        obj["sequencer"] = sequencer
    return event


notifications._get_s3_event = _s3_event_as_aws_sends_it
main(sys.argv[1:])
