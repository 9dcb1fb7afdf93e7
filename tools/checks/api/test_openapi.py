"""Drives a running API through every route and error and checks each response against services/api/openapi.json.

Run in .venv/schemathesis with IMGPIPE_API set to the base URL of a running local stack
(tools/checks/api/run.sh does both):

    IMGPIPE_API=http://127.0.0.1:PORT .venv/schemathesis/bin/python -m pytest -q -p no:cacheprovider \
        tools/checks/api/test_openapi.py

Every request goes through `call`, which finds the documented response for (path template, method, status),
fails if there is none, and validates the headers and the body against it (JSON Schema draft 2020-12, $refs
resolved into the document's components). The last test requires every declared operation to have been
exercised with a documented outcome.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parents[3]
SPEC_PATH = ROOT / "services/api/openapi.json"
DEMO = ROOT / "third_party/demo-images"
SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text())
SPEC_URI = "urn:imgpipe:openapi"
REGISTRY = Registry().with_resource(SPEC_URI, Resource.from_contents(SPEC, default_specification=DRAFT202012))
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ID_PATTERN = r"[^/]+"
WAIT_SECS = float(os.environ.get("IMGPIPE_WAIT_SECS", "60"))
MAX_INLINE_BYTES = 4 * 1024 * 1024
MAX_UPLOAD_BYTES = 25 * 1024 * 1024


def base_url() -> str:
    url = os.environ.get("IMGPIPE_API", "").rstrip("/")
    if not url:
        pytest.fail("IMGPIPE_API is not set: the base URL of a running local stack (tools/checks/api/run.sh)")
    return url


# (path template or "<unknown>", METHOD, status) of every API response seen, and whether it was documented.
OBSERVED: list[tuple[str, str, int, bool]] = []


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follows a local `$ref` (responses, headers, parameters) to its target in the document."""
    while "$ref" in node:
        pointer = node["$ref"]
        assert pointer.startswith("#/"), pointer
        node = SPEC
        for part in pointer[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def pointer_of(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def validator(schema_pointer: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {"$ref": SPEC_URI + schema_pointer},
        registry=REGISTRY,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def template_of(path: str) -> str | None:
    """The declared path template a request path matches, as the handler routes it (trailing '/' ignored)."""
    path = path.split("?", 1)[0].rstrip("/")
    for template in SPEC["paths"]:
        regex = "^" + re.sub(r"\\\{[^}]+\\\}", ID_PATTERN, re.escape(template)) + "$"
        if re.match(regex, path):
            return template
    return None


def documented_response(template: str | None, method: str, status: int) -> tuple[str, dict[str, Any]] | None:
    """(JSON pointer, response object) documenting this outcome, or None."""
    if template is None:
        fallback = SPEC["x-unknown-routes"]["response"]
        return (fallback["$ref"], resolve(fallback)) if status == 404 else None
    item = SPEC["paths"][template]
    operation = item.get(method.lower())
    if operation is None:
        fallback = item["x-other-methods"]["response"]
        return (fallback["$ref"], resolve(fallback)) if status == 405 else None
    responses = operation["responses"]
    key = str(status) if str(status) in responses else f"{str(status)[0]}XX"
    if key not in responses:
        return None
    response = responses[key]
    pointer = response.get("$ref", pointer_of("paths", template, method.lower(), "responses", key))
    return pointer, resolve(response)


def call(method: str, path: str, *, expect: int | None = None, **kwargs: Any) -> requests.Response:
    """Sends one request to the API and checks the response against the document."""
    kwargs.setdefault("timeout", 30)
    kwargs.setdefault("allow_redirects", False)
    response = requests.request(method, base_url() + path, **kwargs)
    template = template_of(path)
    found = documented_response(template, method, response.status_code)
    OBSERVED.append((template or "<unknown>", method.upper(), response.status_code, found is not None))
    where = f"{method.upper()} {path} -> {response.status_code} {response.text[:500]!r}"
    assert found is not None, f"undocumented response: {where}"
    pointer, documented = found
    check_headers(pointer, documented, response, where)
    check_body(pointer, documented, response, where)
    if expect is not None:
        assert response.status_code == expect, f"expected {expect}: {where}"
    return response


def check_headers(pointer: str, documented: dict[str, Any], response: requests.Response, where: str) -> None:
    for name, header in documented.get("headers", {}).items():
        header_pointer = header.get("$ref", pointer + "/headers/" + name.replace("~", "~0").replace("/", "~1"))
        header = resolve(header)
        value = response.headers.get(name)
        if value is None:
            assert not header.get("required", False), f"required header {name} missing: {where}"
            continue
        errors = [e.message for e in validator(header_pointer + "/schema").iter_errors(value)]
        assert not errors, f"header {name}: {value!r}: {errors}: {where}"


def check_body(pointer: str, documented: dict[str, Any], response: requests.Response, where: str) -> None:
    content = documented.get("content")
    if not content:
        assert response.content == b"", f"documented without a body, got one: {where}"
        return
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    assert media_type in content, f"content-type {media_type!r} is not one of {sorted(content)}: {where}"
    body = response.json()
    schema = content[media_type]["schema"]
    if set(schema) == {"$ref"}:
        target = schema["$ref"]
    else:
        target = pointer + "/content/" + media_type.replace("~", "~0").replace("/", "~1") + "/schema"
    errors = sorted(validator(target).iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, f"body does not match {target}: " + "; ".join(
        f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]
    ) + f": {where}"


# ----------------------------------------------------------------------------------------------------------
# helpers


def create_upload(content_type: str = "image/png", filename: str | None = "chelsea.png", **extra: Any) -> dict:
    body = {"content_type": content_type, **extra}
    if filename is not None:
        body["filename"] = filename
    response = call("POST", "/images", json=body, expect=201)
    return response.json()


def upload(created: dict, data: bytes) -> None:
    instructions = created["upload"]
    put = requests.request(
        instructions["method"], instructions["url"], headers=instructions["headers"], data=data, timeout=30
    )
    assert put.ok, f"upload PUT {put.status_code}: {put.text[:300]}"


def wait_settled(image_id: str, timeout: float = WAIT_SECS) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        record = call("GET", f"/images/{image_id}", expect=200).json()
        if record["status"] in ("completed", "failed"):
            return record
        assert time.monotonic() < deadline, f"{image_id} still {record['status']} after {timeout} s"
        time.sleep(0.25)


def error_code(response: requests.Response) -> str:
    return response.json()["error"]["code"]


def random_v4() -> str:
    return str(uuid.uuid4())


# ----------------------------------------------------------------------------------------------------------
# the document itself


def test_document_is_openapi_3_1_with_valid_schemas() -> None:
    assert SPEC["openapi"] == "3.1.0"
    components = SPEC["components"]["schemas"]
    for name in components:
        jsonschema.Draft202012Validator.check_schema(components[name])
        validator(pointer_of("components", "schemas", name))  # every $ref inside resolves
    # Every $ref in the document points at something.
    def refs(node: Any):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in refs(SPEC):
        resolve({"$ref": ref})
    for item in SPEC["paths"].values():
        for method in METHODS:
            if method in item:
                assert item[method]["responses"], method
        assert "x-other-methods" in item


# ----------------------------------------------------------------------------------------------------------
# the happy paths


def test_upload_flow_list_and_paging() -> None:
    data = (DEMO / "chelsea.png").read_bytes()
    created = create_upload("image/png", "chelsea.png", content_length=len(data))
    image_id = created["image_id"]
    assert created["status"] == "pending_upload"
    assert "upload" in created
    assert created["upload"]["headers"].get("content-type") == "image/png"

    pending = call("GET", f"/images/{image_id}", expect=200).json()
    assert pending["status"] == "pending_upload"
    assert pending["filename"] == "chelsea.png"

    upload(created, data)
    record = wait_settled(image_id)
    assert record["status"] == "completed", record
    assert record["format"] == "png"
    assert record["size_bytes"] == len(data)
    assert record["predictions"] and record["model"]
    assert record["error"] is None
    assert {"preprocess", "inference", "end_to_end"} <= set(record["timings_ms"])
    assert {"pending_upload", "completed"} <= set(record["timeline"])

    # A second image so that paging has two pages at least.
    second = create_upload("image/jpeg", None)

    everything = call("GET", "/images", expect=200).json()
    ids = [image["image_id"] for image in everything["images"]]
    assert image_id in ids and second["image_id"] in ids

    completed = call("GET", "/images?status=completed", expect=200).json()
    assert image_id in [image["image_id"] for image in completed["images"]]
    assert all(image["status"] == "completed" for image in completed["images"])
    pending_only = call("GET", "/images", params={"status": "pending_upload", "limit": 100}, expect=200).json()
    assert second["image_id"] in [image["image_id"] for image in pending_only["images"]]
    assert image_id not in [image["image_id"] for image in pending_only["images"]]

    # limit=1 pages through everything, newest first, each image once.
    seen: list[str] = []
    token = None
    for _ in range(500):
        params = {"limit": 1} if token is None else {"limit": 1, "next_token": token}
        page = call("GET", "/images", params=params, expect=200).json()
        assert len(page["images"]) <= 1
        seen += [image["image_id"] for image in page["images"]]
        token = page["next_token"]
        if token is None:
            break
    assert len(seen) == len(set(seen)), "an image appeared on two pages"
    assert image_id in seen and second["image_id"] in seen
    assert seen.index(second["image_id"]) < seen.index(image_id), "not newest first"


def test_inline_upload() -> None:
    data = (DEMO / "coffee.png").read_bytes()
    response = call("POST", "/images", data=data, headers={"content-type": "image/png"}, expect=202)
    body = response.json()
    assert response.headers["location"] == f"/images/{body['image_id']}"
    assert body["status"] != "pending_upload"
    record = wait_settled(body["image_id"])
    assert record["status"] == "completed", record
    assert record["content_type"] == "image/png"
    assert record["filename"] is None


def test_inline_non_image_fails_later_with_its_code() -> None:
    response = call("POST", "/images", data=b"not an image at all", headers={"content-type": "image/jpeg"}, expect=202)
    record = wait_settled(response.json()["image_id"])
    assert record["status"] == "failed"
    assert record["error"]["code"] == "not_an_image"
    assert record["predictions"] is None


# ----------------------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(
    "path",
    [
        "/images/not-a-uuid",
        "/images/" + random_v4().upper(),
        "/images/" + random_v4().replace("-", ""),
        "/images/c232ab00-9414-11ec-b3c8-9f6bdeced846",  # a version 1 UUID
        "/images/%7B" + random_v4() + "%7D",
    ],
)
def test_malformed_id_is_400(path: str) -> None:
    assert error_code(call("GET", path, expect=400)) == "bad_request"


def test_missing_image_is_404() -> None:
    assert error_code(call("GET", f"/images/{random_v4()}", expect=404)) == "not_found"


@pytest.mark.parametrize("method,path", [("GET", "/"), ("GET", "/nope"), ("POST", "/images/x/y"), ("DELETE", "/imagez")])
def test_unknown_route_is_404(method: str, path: str) -> None:
    assert error_code(call(method, path, expect=404)) == "not_found"


@pytest.mark.parametrize(
    "method,path",
    [("PUT", "/images"), ("PATCH", "/images"), ("DELETE", "/images"), ("PUT", "/images/{id}"), ("POST", "/images/{id}")],
)
def test_other_methods_are_405(method: str, path: str) -> None:
    response = call(method, path.replace("{id}", random_v4()), expect=405)
    assert error_code(response) == "method_not_allowed"


@pytest.mark.parametrize(
    "headers,data",
    [
        ({"content-type": "text/plain"}, b"hello"),
        ({"content-type": "application/xml"}, b"<a/>"),
        ({"content-type": "image/tiff"}, b"II*\x00"),
        ({}, b"{}"),
    ],
)
def test_unsupported_media_type_is_415(headers: dict, data: bytes) -> None:
    response = call("POST", "/images", headers=headers, data=data, expect=415)
    assert error_code(response) == "unsupported_media_type"


def test_unaccepted_content_type_in_json_is_415() -> None:
    response = call("POST", "/images", json={"content_type": "image/tiff"}, expect=415)
    assert error_code(response) == "unsupported_media_type"


def test_content_length_over_the_limit_is_413() -> None:
    response = call(
        "POST", "/images", json={"content_type": "image/png", "content_length": MAX_UPLOAD_BYTES + 1}, expect=413
    )
    assert error_code(response) == "too_large"


def test_inline_over_the_limit_is_413() -> None:
    data = b"\xff\xd8\xff" + b"\0" * MAX_INLINE_BYTES
    response = call("POST", "/images", data=data, headers={"content-type": "image/jpeg"}, expect=413)
    assert error_code(response) == "too_large"


@pytest.mark.parametrize(
    "data",
    [
        b"{",
        b"[]",
        b"",
        b'{"content_type": "image/png", "colour": "blue"}',
        b'{"filename": "a.png"}',
        b'{"content_type": "image/png", "content_length": 0}',
        b'{"content_type": "image/png", "content_length": -5}',
        b'{"content_type": "image/png", "content_length": "12"}',
        b'{"content_type": "image/png", "filename": "a\\nb.png"}',
        b'{"content_type": "image/png", "filename": ""}',
        ('{"content_type": "image/png", "filename": "' + "x" * 256 + '"}').encode(),
    ],
)
def test_bad_json_body_is_400(data: bytes) -> None:
    response = call("POST", "/images", data=data, headers={"content-type": "application/json"}, expect=400)
    assert error_code(response) == "bad_request"


def test_filename_limit_counts_characters() -> None:
    # 255 two-byte characters are 510 bytes of UTF-8, and still within the documented maxLength.
    created = create_upload("image/png", "\u00e9" * 255)
    assert call("GET", f"/images/{created['image_id']}", expect=200).json()["filename"] == "\u00e9" * 255
    response = call("POST", "/images", json={"content_type": "image/png", "filename": "\u00e9" * 256}, expect=400)
    assert error_code(response) == "bad_request"


def test_empty_inline_body_is_400() -> None:
    response = call("POST", "/images", data=b"", headers={"content-type": "image/png"}, expect=400)
    assert error_code(response) == "bad_request"


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=abc", "limit=", "status=done", "status=", "colour=blue", "status=COMPLETED"],
)
def test_bad_query_parameter_is_400(query: str) -> None:
    assert error_code(call("GET", f"/images?{query}", expect=400)) == "bad_request"


@pytest.mark.parametrize("token", ["notatoken", "!!!", "e30", "eyJiZWZvcmUiOiJ4In0"])
def test_bad_next_token_is_400(token: str) -> None:
    # e30 is {} and eyJiZWZvcmUiOiJ4In0 is {"before":"x"}: base64url JSON, but no cursor of ours.
    response = call("GET", "/images", params={"next_token": token}, expect=400)
    assert error_code(response) == "bad_request"


# ----------------------------------------------------------------------------------------------------------
# DELETE /images/{id}


def test_delete() -> None:
    created = create_upload("image/gif", "to-delete.gif")
    image_id = created["image_id"]
    response = call("DELETE", f"/images/{image_id}", expect=204)
    assert response.content == b""
    assert error_code(call("GET", f"/images/{image_id}", expect=404)) == "not_found"
    assert error_code(call("DELETE", f"/images/{image_id}", expect=404)) == "not_found"
    listed = call("GET", "/images", params={"limit": 100}, expect=200).json()
    assert image_id not in [image["image_id"] for image in listed["images"]]


def test_delete_errors() -> None:
    assert error_code(call("DELETE", f"/images/{random_v4()}", expect=404)) == "not_found"
    assert error_code(call("DELETE", "/images/not-a-uuid", expect=400)) == "bad_request"
    assert error_code(call("DELETE", "/images/" + random_v4().upper(), expect=400)) == "bad_request"


# ----------------------------------------------------------------------------------------------------------
# Idempotency-Key on POST /images


def test_idempotent_create_replays_the_first_response() -> None:
    key = f"test-{uuid.uuid4()}"
    body = {"content_type": "image/png", "filename": "replay.png"}
    first = call("POST", "/images", json=body, headers={"Idempotency-Key": key}, expect=201)
    assert "idempotent-replayed" not in first.headers
    again = call("POST", "/images", json=body, headers={"Idempotency-Key": key}, expect=201)
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["image_id"] == first.json()["image_id"]
    assert again.headers["location"] == first.headers["location"]
    assert again.json()["status"] == "pending_upload" and "upload" in again.json(), "a pending replay re-issues the URL"

    # The same key with another request is refused.
    other = call(
        "POST", "/images", json={"content_type": "image/jpeg"}, headers={"Idempotency-Key": key}, expect=409
    )
    assert error_code(other) == "idempotency_key_reused"
    # Without a key, the same request creates another image.
    fresh = call("POST", "/images", json=body, expect=201)
    assert fresh.json()["image_id"] != first.json()["image_id"]


def test_idempotent_replay_after_the_upload_has_no_upload() -> None:
    key = f"test-{uuid.uuid4()}"
    data = (DEMO / "rocket.jpg").read_bytes()
    body = {"content_type": "image/jpeg", "filename": "rocket.jpg", "content_length": len(data)}
    first = call("POST", "/images", json=body, headers={"Idempotency-Key": key}, expect=201).json()
    upload(first, data)
    assert wait_settled(first["image_id"])["status"] == "completed"
    again = call("POST", "/images", json=body, headers={"Idempotency-Key": key}, expect=201)
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["image_id"] == first["image_id"]
    assert again.json()["status"] == "completed"
    assert "upload" not in again.json()


def test_idempotent_inline_replays_202() -> None:
    key = f"test-{uuid.uuid4()}"
    data = (DEMO / "camera.png").read_bytes()
    headers = {"content-type": "image/png", "Idempotency-Key": key}
    first = call("POST", "/images", data=data, headers=headers, expect=202)
    again = call("POST", "/images", data=data, headers=headers, expect=202)
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["image_id"] == first.json()["image_id"]
    other = call("POST", "/images", data=data[:-1], headers=headers, expect=409)
    assert error_code(other) == "idempotency_key_reused"
    as_json = call("POST", "/images", json={"content_type": "image/png"}, headers={"Idempotency-Key": key}, expect=409)
    assert error_code(as_json) == "idempotency_key_reused"


# HTTP itself only lets a tab or bytes 0x80-0xff through besides printable ASCII.
@pytest.mark.parametrize("key", ["k" * 256, "tab\there", b"caf\xc3\xa9"])
def test_malformed_idempotency_key_is_400(key: str | bytes) -> None:
    response = call(
        "POST", "/images", json={"content_type": "image/png"}, headers={"Idempotency-Key": key}, expect=400
    )
    assert error_code(response) == "bad_request"


def test_longest_idempotency_key_is_accepted() -> None:
    key = "~" + uuid.uuid4().hex + "k" * (255 - 33)
    assert len(key) == 255
    call("POST", "/images", json={"content_type": "image/png"}, headers={"Idempotency-Key": key}, expect=201)


# ----------------------------------------------------------------------------------------------------------
# keep last: what the run above covered


def test_every_observed_response_is_documented() -> None:
    undocumented = sorted({(p, m, s) for p, m, s, ok in OBSERVED if not ok})
    assert not undocumented, f"undocumented (path, method, status): {undocumented}"


def test_every_declared_operation_was_exercised() -> None:
    declared = {(path, method.upper()) for path, item in SPEC["paths"].items() for method in METHODS if method in item}
    exercised = {(p, m) for p, m, _, ok in OBSERVED if ok and p != "<unknown>"}
    assert declared - exercised == set(), f"declared but never answered as documented: {sorted(declared - exercised)}"
    fallbacks = {(p, s) for p, m, s, ok in OBSERVED if ok and (p == "<unknown>" or (p in SPEC["paths"] and m.lower() not in SPEC["paths"][p]))}
    assert ("<unknown>", 404) in fallbacks, "no unknown route was exercised"
    for path in SPEC["paths"]:
        assert (path, 405) in fallbacks, f"no undeclared method on {path} was exercised"
