"""The cost model's arithmetic (bench/cost.py): billing units and roundings, not speed. No measured times needed."""

from __future__ import annotations

import json
import os

import pytest

import cost

MEASURED = cost.Measured(preprocess_ms=4.0, inference_ms_t1={1: 5.0, 8: 8.0}, inference_ms_t2={1: 4.0, 8: 6.0})


def test_sqs_bills_every_started_64k_chunk():
    assert cost.sqs_requests(0) == 1
    assert cost.sqs_requests(1) == 1
    assert cost.sqs_requests(65_536) == 1
    assert cost.sqs_requests(65_537) == 2
    # The preprocessed pixels (224 x 224 x 3 bytes) as a binary attribute: 150,528 bytes -> 3 chunks.
    assert cost.sqs_requests(150_528) == 3
    # Base64 in the body instead: 200,704 bytes -> 4 chunks.
    assert cost.sqs_requests(200_704) == 4


def test_http_api_meters_512k_increments():
    assert cost.http_api_requests(300) == 1
    assert cost.http_api_requests(512 * 1024) == 1
    assert cost.http_api_requests(512 * 1024 + 1) == 2


def test_gb_seconds_round_duration_up_to_the_millisecond():
    assert cost.gb_seconds(1024, 1000) == pytest.approx(1.0)
    assert cost.gb_seconds(2048, 500) == pytest.approx(1.0)
    assert cost.gb_seconds(1024, 10.2) == pytest.approx(0.011)
    assert cost.gb_seconds(128, 1) == pytest.approx(0.125 * 0.001)


def test_cpu_share_and_speed():
    assert cost.vcpus(1769) == pytest.approx(1.0)
    assert cost.vcpus(3538) == pytest.approx(2.0)
    assert cost.speed(1769 / 2, 1.0) == pytest.approx(0.5)
    # Above one vCPU, the second one counts only by the gain a second core gave on this machine.
    assert cost.speed(3538, 0.0) == pytest.approx(1.0)
    assert cost.speed(3538, 0.5) == pytest.approx(1.5)
    assert cost.speed(3538, 7.0) == pytest.approx(2.0)


def test_dynamodb_sizes_and_units():
    assert cost.value_size("abc") == 3
    assert cost.value_size(12345) == 4  # 5 significant digits -> 3 bytes + 1
    assert cost.value_size({}) == 3
    assert cost.value_size({"a": "xy"}) == 3 + 1 + 2 + 1
    assert cost.item_size({"image_id": "x" * 36}) == 8 + 36
    assert cost.write_units(1) == 1 and cost.write_units(1024) == 1 and cost.write_units(1025) == 2
    assert cost.read_units(4096) == 1 and cost.read_units(4097) == 2
    assert cost.read_units(100, consistent=False) == 0.5


def test_every_status_transition_writes_the_status_index_twice():
    design = cost.Design()  # KEYS_ONLY, as terraform/modules/storage projects both indexes
    units = cost.status_write_units(design, owner=True)
    assert list(units) == ["create", "preprocessing", "preprocessed", "completed"]
    assert units["create"]["status_index"] == 1 and units["create"]["owner_index"] == 1  # puts only
    for stage in ("preprocessing", "preprocessed", "completed"):
        assert units[stage]["status_index"] == 2  # delete the old entry, put the new one
        assert units[stage]["owner_index"] == 0  # its keys never change: written once
    full = cost.status_write_units(cost.Design(gsi_projection="ALL"), owner=True)
    for stage in ("preprocessing", "preprocessed", "completed"):
        assert full[stage]["owner_index"] >= 1  # projection ALL: the owner entry is rewritten
    assert cost.status_write_units(design, owner=False)["completed"]["owner_index"] == 0


def test_polls():
    assert cost.polls_per_image(1.0, 2.0) == 3
    assert cost.polls_per_image(1.0, 0.5) == 1
    assert cost.polls_per_image(0.25, 2.0) == 9


def test_breakdown_counts_the_calls_of_the_code():
    b = cost.breakdown(MEASURED, cost.Design())
    c = b["counts_per_image"]
    assert c["s3_puts"] == {"upload (client, presigned)": 1}
    assert len(c["s3_gets"]) == 1
    # The pixels travel in the inference message: 3 x 64 KB chunks.
    assert c["sqs_requests"]["s3 event send"] == 1 and c["sqs_requests"]["inference send"] == 3
    assert c["sqs_requests"]["preprocess receive"] == pytest.approx(0.1)
    assert c["sqs_requests"]["inference delete"] == pytest.approx(1 / 8)
    assert c["http_api_requests"] == {"POST /images": 1, "GET polls": 3}
    # S3 PUTs alone: the upload, $0.005 per 1,000 images (3 PUTs with the old pixels and result JSON).
    puts = sum(v for k, v in b["detail_usd_per_1k"]["s3"].items() if k.startswith("PUT"))
    assert puts == pytest.approx(0.005)
    old = cost.breakdown(MEASURED, cost.Design(result_json_in_s3=True))
    assert old["counts_per_image"]["s3_puts"]["result JSON"] == 1
    assert b["total_usd_per_1k"] == pytest.approx(sum(b["by_service_usd_per_1k"].values()))


def test_pixels_in_sqs_trade_s3_requests_for_chunks():
    b = cost.breakdown(MEASURED, cost.Design(pixels_via="sqs"))
    sqs = b["counts_per_image"]["sqs_requests"]
    assert sqs["inference send"] == 3
    assert sqs["inference receive"] == pytest.approx(cost.sqs_requests(8 * (150_528 + 420)) / 8)
    assert "preprocessed pixels" not in b["counts_per_image"]["s3_puts"]
    via_s3 = cost.breakdown(MEASURED, cost.Design(pixels_via="s3"))
    assert via_s3["counts_per_image"]["s3_puts"]["preprocessed pixels"] == 1
    assert via_s3["counts_per_image"]["sqs_requests"]["inference send"] == 1
    assert b["total_usd_per_1k"] < via_s3["total_usd_per_1k"]


def test_lambda_compute_follows_measured_times_and_memory():
    d = cost.durations(MEASURED, cost.Design(preprocess_mb=1769, inference_mb=1769))
    assert d["preprocess"]["compute_ms"] == pytest.approx(4.0)
    assert d["inference"]["compute_ms"] == pytest.approx(8.0)
    half = cost.durations(MEASURED, cost.Design(preprocess_mb=1769 // 2 + 0.5, inference_mb=1769 / 2))
    assert half["inference"]["compute_ms"] == pytest.approx(16.0)


def test_two_ort_threads_above_one_vcpu_count_against_the_quota():
    design = cost.Design(inference_mb=2048)
    assert cost.threads_used(design, 2048) == 2 and cost.threads_used(design, 1769) == 1
    # Two spinning threads on a 1.16-vCPU share: 2 x 6 ms of CPU / 1.158.
    assert cost.inference_ms(MEASURED, design, 2048, 8) == pytest.approx(2 * 6.0 / (2048 / 1769))
    assert cost.inference_ms(MEASURED, design, 3538, 8) == pytest.approx(6.0)
    one = cost.Design(inference_mb=2048, inference_threads=1)
    assert cost.inference_ms(MEASURED, one, 2048, 8) == pytest.approx(8.0)


def test_defaults_come_from_pipeline_json():
    with open(os.path.join(cost.REPO, "services", "pipeline.json"), encoding="utf-8") as f:
        pipeline = json.load(f)
    fn, model = pipeline["functions"], pipeline["model_defaults"]
    d = cost.load_pipeline_defaults()
    assert (d.preprocess_mb, d.preprocess_batch) == (fn["preprocess"]["memory"], fn["preprocess"]["batch_size"])
    assert (d.inference_mb, d.inference_batch) == (model["memory"], model["batch_size"])


def test_report_shape():
    r = cost.report(MEASURED, upload_bytes=2_000_000)
    assert r["cost_per_1k_images_usd"] == r["default"]["total_usd_per_1k"] > 0
    assert [row["memory_mb"] for row in r["memory_sizes"]] == [512, 1024, 1769, 2048, 3008]
    assert r["assumptions"]["upload_bytes"] == 2_000_000
    assert cost.ASSUMPTIONS["upload_bytes"] != 2_000_000  # report() leaves the module's assumptions alone
    assert "per 1,000 images" in cost.markdown(r)


def test_the_api_writes_no_platform_lines_by_default():
    quiet = cost.breakdown(MEASURED, cost.Design())
    loud = cost.breakdown(MEASURED, cost.Design(api_platform_logs=True))
    api_invocations = loud["counts_per_image"]["lambda_invocations"]["api"]
    extra = loud["counts_per_image"]["log_bytes_per_image"] - quiet["counts_per_image"]["log_bytes_per_image"]
    assert extra == pytest.approx(api_invocations * cost.ASSUMPTIONS["log_bytes_per_invocation"])
