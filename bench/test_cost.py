"""The cost model's arithmetic (bench/cost.py): billing units, roundings, the calls counted per client and the
idle inventory counted from terraform/. No measured times needed: a made-up Measured stands in for them."""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import replace

import pytest

import cost

MEASURED = cost.Measured(preprocess_ms=4.0, inference_ms_t1={1: 5.0, 8: 8.0}, inference_ms_t2={1: 4.0, 8: 6.0})
WITH_INT8 = replace(MEASURED, int8_ms_t1={1: 2.5, 8: 3.0}, int8_ms_t2={1: 1.5, 8: 2.0})
P = cost.PRICES


def test_sqs_bills_every_started_64k_chunk():
    assert cost.sqs_requests(0) == 1
    assert cost.sqs_requests(1) == 1
    assert cost.sqs_requests(65_536) == 1
    assert cost.sqs_requests(65_537) == 2
    # The preprocessed pixels (224 x 224 x 3 bytes) as a binary attribute: 150,528 bytes -> 3 chunks.
    assert cost.sqs_requests(150_528) == 3
    # Base64 in the body instead: 200,704 bytes -> 4 chunks.
    assert cost.sqs_requests(200_704) == 4


def test_eventbridge_bills_every_started_64k_chunk_of_an_entry():
    assert cost.eventbridge_events(1) == 1
    assert cost.eventbridge_events(65_536) == 1
    assert cost.eventbridge_events(65_537) == 2
    # The completed event with its top-5 is well under one chunk: one event per image.
    assert cost.event_entry_bytes(cost.Design()) < 65_536
    assert cost.breakdown(MEASURED, cost.Design())["counts_per_image"]["eventbridge_events"] == 1


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


def test_status_sequences_follow_the_status_machine():
    assert cost.status_sequence(cost.Design()) == ["create", "preprocessing", "preprocessed", "completed"]
    assert cost.status_sequence(cost.Design(upload="inline")) == [
        "create", "queued", "preprocessing", "preprocessed", "completed"]
    # An ingested object's job is created by preprocess, already in preprocessing (no claim UpdateItem).
    assert cost.status_sequence(cost.Design(client="ingest")) == ["create", "preprocessed", "completed"]
    assert cost.items_by_stage(cost.Design(client="ingest"))["create"]["status"] == "preprocessing"
    assert "inferring" not in cost.status_sequence(cost.Design())
    assert cost.status_sequence(cost.Design(inferring_write=True))[-2:] == ["inferring", "completed"]


def test_every_status_transition_writes_the_status_index_twice():
    design = cost.Design()  # KEYS_ONLY, as terraform/modules/storage projects the status and owner indexes
    units = cost.status_write_units(design, owner=True)
    assert list(units) == ["create", "preprocessing", "preprocessed", "completed"]
    assert units["create"]["status_index"] == 1 and units["create"]["owner_index"] == 1  # puts only
    for stage in ("preprocessing", "preprocessed", "completed"):
        assert units[stage]["status_index"] == 2  # delete the old entry, put the new one
        assert units[stage]["owner_index"] == 0  # its keys never change: written once
        assert units[stage]["source_index"] == 0  # an API upload is not in the source-key index
    full = cost.status_write_units(cost.Design(gsi_projection="ALL"), owner=True)
    for stage in ("preprocessing", "preprocessed", "completed"):
        assert full[stage]["owner_index"] >= 1  # projection ALL: the owner entry is rewritten
    assert cost.status_write_units(design, owner=False)["completed"]["owner_index"] == 0


def test_the_completed_api_item_fits_one_write_unit_and_the_claim_fields_go():
    items = cost.items_by_stage(cost.Design())
    assert "claimant" in items["preprocessed"] and "claimant" not in items["completed"]
    assert cost.item_size(items["completed"]) <= 1024
    assert cost.status_write_units(cost.Design())["completed"]["table"] == 1


def test_polls():
    assert cost.polls_per_image(1.0, 2.0) == 3
    assert cost.polls_per_image(1.0, 0.5) == 1
    assert cost.polls_per_image(0.25, 2.0) == 9
    assert cost.polls(cost.Design(client="events")) == 0


def test_breakdown_counts_the_calls_of_the_code():
    b = cost.breakdown(MEASURED, cost.Design())
    c = b["counts_per_image"]
    assert c["s3_puts"] == {"upload (client, presigned)": 1}
    assert c["s3_gets"] == {"source object (preprocess)": 1}
    # The pixels travel in the inference message: 3 x 64 KB chunks.
    assert c["sqs_requests"]["s3 event send"] == 1 and c["sqs_requests"]["inference send"] == 3
    assert c["sqs_requests"]["preprocess receive"] == pytest.approx(0.1)
    assert c["sqs_requests"]["inference delete"] == pytest.approx(1 / 8)
    assert c["http_api_requests"] == {"POST /images": 1, "GET polls": 3}
    # Reads: three polls and inference's GetItem (no claim there, preprocess reads nothing on the happy path).
    assert c["dynamodb_read_units"] == {"polls": 3, "inference GetItem": 1}
    # One PutEvents entry per image: $1.00 per million.
    assert b["detail_usd_per_1k"]["eventbridge"]["PutEvents (Image Completed)"] == pytest.approx(0.001)
    # S3 PUTs alone: the upload, $0.005 per 1,000 images.
    puts = sum(v for k, v in b["detail_usd_per_1k"]["s3"].items() if k.startswith("PUT"))
    assert puts == pytest.approx(0.005)
    old = cost.breakdown(MEASURED, cost.Design(result_json_in_s3=True))
    assert old["counts_per_image"]["s3_puts"]["result JSON of an API upload"] == 1
    assert b["total_usd_per_1k"] == pytest.approx(sum(b["by_service_usd_per_1k"].values()))


def _poll_usd_per_1k_by_hand(design=cost.Design()) -> float:
    """One GET poll from the price list alone: request, invocation, 8 ms at 256 MB, one read unit, the access
    log line, X-Ray's 5%."""
    a = cost.ASSUMPTIONS
    return 1000 * (P["http_api_request"] + P["lambda_request"] + 256 / 1024 * 0.008 * P["lambda_gb_second"]
                   + P["dynamodb_read_unit"] + a["api_access_log_bytes"] / 1e9 * P["cloudwatch_logs_ingest_gb"]
                   + a["xray_sampled_fraction"] * P["xray_trace_recorded"])


def test_the_event_driven_client_is_cheaper_than_polling_by_exactly_the_polls():
    polling = cost.breakdown(MEASURED, cost.Design(client="polling"))
    events = cost.breakdown(MEASURED, cost.Design(client="events"))
    polls = polling["counts_per_image"]["polls_per_image"]
    assert polls == 3 and events["counts_per_image"]["polls_per_image"] == 0
    assert cost.poll_usd_per_1k(cost.Design()) == pytest.approx(_poll_usd_per_1k_by_hand())
    saved = polling["total_usd_per_1k"] - events["total_usd_per_1k"]
    assert saved == pytest.approx(polls * _poll_usd_per_1k_by_hand(), rel=1e-9)
    # Nothing else moves: the same writes, the same pipeline, the same event.
    for service in ("s3", "sqs", "eventbridge"):
        assert polling["by_service_usd_per_1k"][service] == pytest.approx(events["by_service_usd_per_1k"][service])
    assert polling["counts_per_image"]["dynamodb_write_units_total"] == events["counts_per_image"]["dynamodb_write_units_total"]
    assert events["counts_per_image"]["http_api_requests"] == {"POST /images": 1}


def test_the_quota_adds_exactly_one_write_unit_per_post():
    for client in ("polling", "events", "webhook"):
        off = cost.breakdown(MEASURED, cost.Design(client=client, quota=False))
        on = cost.breakdown(MEASURED, cost.Design(client=client, quota=True))
        assert (on["counts_per_image"]["dynamodb_write_units_total"]
                - off["counts_per_image"]["dynamodb_write_units_total"]) == 1
        assert on["by_service_usd_per_1k"]["dynamodb"] - off["by_service_usd_per_1k"]["dynamodb"] == pytest.approx(
            1000 * P["dynamodb_write_unit"])
        assert on["detail_usd_per_1k"]["dynamodb"]["write quota counter"] == pytest.approx(1000 * P["dynamodb_write_unit"])
    # The counter is in no index and stays one unit.
    assert cost.write_units(cost.item_size(cost.quota_item())) == 1
    assert "status_shard" not in cost.quota_item() and "owner" not in cost.quota_item()
    # No owner (the local `none` mode): nothing is counted.
    a = dict(cost.ASSUMPTIONS, owner_present=False)
    anon = cost.breakdown(MEASURED, cost.Design(quota=True), a)
    assert "write quota counter" not in anon["detail_usd_per_1k"]["dynamodb"]


def test_ingest_has_no_api_request_no_polls_and_one_results_put():
    design = cost.Design(client="ingest")
    b = cost.breakdown(MEASURED, design)
    c = b["counts_per_image"]
    assert c["http_api_requests"] == {} and b["by_service_usd_per_1k"].get("http_api", 0) == 0
    assert "api" not in c["lambda_invocations"]
    assert c["polls_per_image"] == 0
    assert c["s3_puts"] == {"results/<key>.json (announcer)": 1}
    # The user's own PUT is shown, but not in the pipeline's figure.
    assert b["outside_usd_per_1k"] == {"S3 PUT of the ingest object (the user's upload)": pytest.approx(0.005)}
    assert b["total_usd_per_1k"] == pytest.approx(sum(b["by_service_usd_per_1k"].values()))
    # Created by preprocess: a PutItem in every index that holds it (status, owner, source-key) ...
    w = c["dynamodb_write_units"]
    assert list(w) == ["create", "preprocessed", "completed"]
    assert (w["create"]["status_index"], w["create"]["owner_index"], w["create"]["source_index"]) == (1, 1, 1)
    # ... and the source-key index, which projects status, is rewritten at every status.
    assert all(w[s]["source_index"] == 1 and w[s]["status_index"] == 2 for s in ("preprocessed", "completed"))
    # The quota belongs to the API: ingest images do not take it.
    assert cost.breakdown(MEASURED, cost.Design(client="ingest", quota=True))["counts_per_image"][
        "dynamodb_write_units_total"] == c["dynamodb_write_units_total"]


def test_the_ingest_key_is_stored_three_times_and_decides_the_write_units():
    limit = cost.longest_ingest_key_in_one_write_unit()
    design = cost.Design(client="ingest")
    fits = cost.items_by_stage(design, True, "k" * limit)["completed"]
    over = cost.items_by_stage(design, True, "k" * (limit + 1))["completed"]
    assert cost.item_size(fits) <= 1024 < cost.item_size(over)
    assert cost.item_size(over) - cost.item_size(fits) == 3  # s3_key, source_key, filename
    assert fits["filename"] == fits["source_key"] and fits["s3_key"] == "ingest/" + fits["source_key"]


def test_webhook_client_adds_the_notify_path():
    events = cost.breakdown(MEASURED, cost.Design(client="events"))
    hook = cost.breakdown(MEASURED, cost.Design(client="webhook"))
    sqs = hook["counts_per_image"]["sqs_requests"]
    assert sqs["notify send (by the webhook rule)"] == 1  # the whole event is a few KB: one chunk
    assert sqs["notify receive"] == pytest.approx(1 / 10) and sqs["notify delete"] == pytest.approx(1 / 10)
    assert hook["counts_per_image"]["lambda_invocations"]["notify"] == pytest.approx(1 / 10)
    calls = hook["counts_per_image"]["secret_reads_per_image"]
    assert calls == pytest.approx(0.1 / cost.ASSUMPTIONS["notify_invocations_per_container"])
    assert hook["detail_usd_per_1k"]["secrets_manager"]["GetSecretValue (per container)"] == pytest.approx(
        calls * P["secretsmanager_api_call"] * 1000)
    assert hook["total_usd_per_1k"] > events["total_usd_per_1k"]
    # The callback URL does not push the item over a write unit.
    assert hook["counts_per_image"]["dynamodb_write_units_total"] == events["counts_per_image"]["dynamodb_write_units_total"]


def test_a_failed_webhook_is_priced_per_delivery():
    with open(os.path.join(cost.REPO, "services", "pipeline.json"), encoding="utf-8") as f:
        pipeline = json.load(f)
    f = cost.webhook_failure(cost.Design())
    attempts = pipeline["queues"]["notify"]["max_receive_count"]
    assert f["attempts"] == attempts
    lambda_part = attempts * (P["lambda_request"] + 256 / 1024 * pipeline["webhooks"]["timeout_secs"]
                              * P["lambda_gb_second"]) * 1000
    assert f["usd_per_1k_failed"]["notify invocations"] == pytest.approx(lambda_part)
    # The note lands on the completed item of a webhook client (about 980 bytes with its callback_url): with the
    # note it passes 1 KB, so the UpdateItem bills two write units (no index holds `webhook`).
    done = cost.items_by_stage(cost.Design(client="webhook"))["completed"]
    assert cost.item_size(done) <= 1024
    assert f["usd_per_1k_failed"]["webhook_failed note (UpdateItem)"] == pytest.approx(2 * 1000 * P["dynamodb_write_unit"])
    assert f["total_usd_per_1k_failed"] == pytest.approx(sum(f["usd_per_1k_failed"].values()))


def test_writing_inferring_would_cost_one_update_and_its_index_entries():
    base = cost.breakdown(MEASURED, cost.Design())
    more = cost.breakdown(MEASURED, cost.Design(inferring_write=True))
    w = more["counts_per_image"]["dynamodb_write_units"]["inferring"]
    assert (w["table"], w["status_index"], w["owner_index"]) == (1, 2, 0)
    extra = more["counts_per_image"]["dynamodb_write_units_total"] - base["counts_per_image"]["dynamodb_write_units_total"]
    assert extra == 3
    assert more["by_service_usd_per_1k"]["dynamodb"] - base["by_service_usd_per_1k"]["dynamodb"] == pytest.approx(
        3 * 1000 * P["dynamodb_write_unit"])
    rows = cost.alternatives(MEASURED, cost.Design())
    row = next(r for r in rows if "inferring" in r["change"])
    assert row["saves_usd_per_1k"] < 0  # it costs, it saves nothing


def test_inline_upload_goes_through_the_api():
    b = cost.breakdown(MEASURED, cost.Design(upload="inline"))
    c = b["counts_per_image"]
    assert c["s3_puts"] == {"upload (api, inline)": 1}
    assert "queued" in c["dynamodb_write_units"]
    assert cost.api_post_ms(cost.Design(upload="inline")) > cost.api_post_ms(cost.Design())


def test_arm64_bills_a_fifth_less_per_gb_second_and_the_same_requests():
    assert P["lambda_gb_second_arm64"] / P["lambda_gb_second"] == pytest.approx(0.8, abs=1e-5)
    x86 = cost.breakdown(MEASURED, cost.Design(architecture="x86_64"))
    arm = cost.breakdown(MEASURED, cost.Design(architecture="arm64", arm64_speed_ratio=1.0))
    assert arm["counts_per_image"]["lambda_gb_seconds"] == x86["counts_per_image"]["lambda_gb_seconds"]
    ratio = P["lambda_gb_second_arm64"] / P["lambda_gb_second"]
    assert arm["lambda_compute_usd_per_1k"] == pytest.approx(x86["lambda_compute_usd_per_1k"] * ratio)
    assert arm["detail_usd_per_1k"]["lambda"]["requests"] == pytest.approx(x86["detail_usd_per_1k"]["lambda"]["requests"])
    # A slower arm64 bills more GB-s; the sensitivity rows fall as the ratio rises.
    slow = cost.breakdown(MEASURED, cost.Design(architecture="arm64", arm64_speed_ratio=0.5))
    assert slow["lambda_compute_usd_per_1k"] > arm["lambda_compute_usd_per_1k"]
    rows = cost.arm64_sensitivity(MEASURED, cost.Design())
    assert [r["ratio"] for r in rows] == [None, 0.8, 1.0, 1.2]
    totals = [r["total_usd_per_1k"] for r in rows[1:]]
    assert totals == sorted(totals, reverse=True)
    with pytest.raises(ValueError):
        cost.gb_second_price("riscv64")


def test_client_scenarios_cover_every_client_and_the_quota_flag():
    rows = cost.client_scenarios(MEASURED, cost.Design())
    assert [(r["client"], r["quota"]) for r in rows] == [
        ("polling", False), ("polling", True), ("events", False), ("events", True),
        ("webhook", False), ("webhook", True), ("ingest", None)]
    by = {(r["client"], r["quota"]): r for r in rows}
    assert by[("ingest", None)]["http_api_requests"] == 0
    assert by[("polling", True)]["dynamodb_write_units"] == by[("polling", False)]["dynamodb_write_units"] + 1
    assert all(r["arm64_usd_per_1k"] < r["x86_64_usd_per_1k"] for r in rows)  # at ratio 1.0


def test_lambda_compute_follows_measured_times_and_memory():
    d = cost.durations(MEASURED, cost.Design(preprocess_mb=1769, inference_mb=1769))
    assert d["preprocess"]["compute_ms"] == pytest.approx(4.0)
    assert d["inference"]["compute_ms"] == pytest.approx(8.0)
    half = cost.durations(MEASURED, cost.Design(preprocess_mb=1769 // 2 + 0.5, inference_mb=1769 / 2))
    assert half["inference"]["compute_ms"] == pytest.approx(16.0)
    arm = cost.durations(MEASURED, cost.Design(preprocess_mb=1769, inference_mb=1769, architecture="arm64",
                                               arm64_speed_ratio=0.8))
    assert arm["inference"]["compute_ms"] == pytest.approx(10.0)  # compute only: the waits stay
    assert arm["inference"]["aws_wait_ms"] == pytest.approx(d["inference"]["aws_wait_ms"])


def test_two_ort_threads_above_one_vcpu_count_against_the_quota():
    design = cost.Design(inference_mb=2048)
    assert cost.threads_used(design, 2048) == 2 and cost.threads_used(design, 1769) == 1
    # Two spinning threads on a 1.16-vCPU share: 2 x 6 ms of CPU / 1.158.
    assert cost.inference_ms(MEASURED, design, 2048, 8) == pytest.approx(2 * 6.0 / (2048 / 1769))
    assert cost.inference_ms(MEASURED, design, 3538, 8) == pytest.approx(6.0)
    one = cost.Design(inference_mb=2048, inference_threads=1)
    assert cost.inference_ms(MEASURED, one, 2048, 8) == pytest.approx(8.0)


def test_a_figure_the_results_lack_is_reported_not_invented():
    with pytest.raises(cost.MissingFigure):
        cost.breakdown(MEASURED, cost.Design(variant="int8"))
    rows = cost.alternatives(MEASURED, cost.Design())
    int8 = next(r for r in rows if "int8" in r["change"])
    assert int8["total_usd_per_1k"] is None and "int8" in int8["missing"]
    measured = next(r for r in cost.alternatives(WITH_INT8, cost.Design()) if "int8" in r["change"])
    assert measured["total_usd_per_1k"] is not None
    r = cost.report(MEASURED)
    assert any("int8" in m for m in r["missing"]) and any("14.7 MP" in m for m in r["missing"])
    assert any("arm64" in m for m in r["missing"])
    assert "not measured" in cost.markdown(r)


def test_measured_from_results_picks_the_rust_rows():
    def row(side, variant, threads, batch, ms):
        return {"side": side, "variant": variant, "threads": threads, "batch": batch, "per_image_ms": {"median": ms}}

    results = {"figures": {"preprocess_dev": {"rust": {"per_image_ms": {"median": 1.5}}}, "inference": [
        row("rust", "fp32", 1, 8, 5.5), row("rust", "fp32", 2, 8, 2.9), row("python", "fp32", 1, 8, 9.0),
        row("rust", "int8", 2, 8, 1.4)]}}
    m = cost.measured_from_results(results)
    assert (m.preprocess_ms, m.inference_ms_t1, m.inference_ms_t2) == (1.5, {8: 5.5}, {8: 2.9})
    assert m.int8_ms_t2 == {8: 1.4} and m.int8_ms_t1 is None
    results["figures"]["inference"] = [row("rust", "int8", 1, 8, 2.0)]
    with pytest.raises(KeyError):
        cost.measured_from_results(results)


def test_schedules():
    assert cost.schedule_invocations_per_month("rate(5 minutes)") == pytest.approx(8640)
    assert cost.schedule_invocations_per_month("rate(1 hour)") == pytest.approx(720)
    assert cost.schedule_invocations_per_month("rate(1 day)", days=31) == pytest.approx(31)
    with pytest.raises(ValueError):
        cost.schedule_invocations_per_month("cron(0 * * * ? *)")


def test_alarm_counting_reads_terraform_blocks():
    text = (
        'resource "aws_cloudwatch_metric_alarm" "plain" {\n  for_each = var.queue_names\n  metric_name = "x"\n}\n\n'
        'resource "aws_cloudwatch_metric_alarm" "math" {\n  metric_query {\n    id = "e"\n  }\n\n'
        '  metric_query {\n    id = "a"\n\n    metric {\n      stat = "Sum"\n    }\n  }\n}\n'
        'resource "aws_cloudwatch_dashboard" "d" {\n  dashboard_name = "x"\n}\n')
    blocks = cost._blocks(text, "aws_cloudwatch_metric_alarm")
    assert list(blocks) == ["plain", "math"]
    assert "dashboard_name" not in blocks["math"]
    assert cost._blocks(text, "aws_cloudwatch_dashboard") and cost.dashboards() == 1


def test_alarms_per_preset_and_model_count():
    # terraform/modules/monitoring: per DLQ depth and age, per queue oldest age (2 + M queues each), per
    # function errors, throttles and duration (4 + M functions), five single alarms.
    for models in (1, 3):
        inv = cost.alarm_inventory(models)
        assert inv["alarms"] == 3 * (2 + models) + 3 * (4 + models) + 5
        # Metric-math alarms bill every metric: 5xx rate 2, DynamoDB 2 + one per index (3), failure rate 2.
        assert inv["alarm_metrics"] == inv["alarms"] - 3 + 2 + 5 + 2
        assert not any(k.startswith("compute.") for k in inv["by_resource"])  # the compute module has none
    assert (cost.alarm_inventory(1)["alarms"], cost.alarm_inventory(3)["alarms"]) == (29, 41)


def test_metric_series_cover_the_contract():
    names = [m["name"] for m in cost.CONTRACT["metrics"]["metrics"]]
    for state in ("idle", "load", "failing"):
        assert list(cost.metric_series(1, state)["by_metric"]) == names
    assert cost.metric_series(1, "idle")["total"] == 1  # the sweeper's cold start
    assert cost.metric_series(1, "load")["total"] == 17
    assert cost.metric_series(3, "load")["total"] == 33
    # Webhooks: notify's batch size and cold start, webhooks{outcome=delivered}.
    assert cost.metric_series(1, "load", webhooks=True)["total"] == 20
    assert cost.metric_series(1, "failing")["total"] > cost.metric_series(1, "load")["total"]
    with pytest.raises(ValueError):
        cost.metric_series(1, "busy")


def test_idle_monthly():
    a = cost.ASSUMPTIONS
    dev1, dev3 = cost.idle_monthly("dev", 1), cost.idle_monthly("dev", 3)
    prod1 = cost.idle_monthly("prod", 1)
    for i in (dev1, dev3, prod1):
        assert i["total_usd"] == pytest.approx(sum(i["items_usd"].values()))
    # Event source mappings: preprocess, notify, one per model; the sweeper's on the preprocess DLQ and each
    # model's DLQ. Five pollers, a 20 s receive each, back to back, all month.
    assert (dev1["counts"]["polled_queues"], dev3["counts"]["polled_queues"]) == (5, 9)
    per_queue = 5 * 3 * 60 * 24 * 30
    assert dev1["items_usd"]["SQS receives of the idle event source mappings"] == pytest.approx(
        5 * per_queue * P["sqs_request"])
    assert dev1["items_usd"]["CloudWatch alarms (per alarm metric)"] == pytest.approx(35 * 0.10)
    assert dev1["items_usd"]["CloudWatch dashboard (free if among the account's first 3)"] == 3.00
    assert dev1["items_usd"]["EMF custom metrics that exist at idle"] == pytest.approx(0.30)
    assert dev1["counts"]["sweeps"] == pytest.approx(8640)  # rate(5 minutes), services/pipeline.json
    # prod: its own customer managed key (and requests) and a year of logs; no other difference.
    assert "KMS key of bucket, table and logs" not in dev1["items_usd"]
    assert prod1["items_usd"]["KMS key of bucket, table and logs"] == 1.00
    assert (prod1["terraform"]["log_retention_days"], dev1["terraform"]["log_retention_days"]) == (365, 14)
    assert prod1["total_usd"] > dev1["total_usd"]
    # Webhooks on: the secret, $0.40.
    assert cost.idle_monthly("prod", 1, True)["total_usd"] - prod1["total_usd"] == pytest.approx(0.40)
    assert dev3["total_usd"] > dev1["total_usd"]
    assert a["sqs_long_poll_seconds"] == 20


def test_defaults_come_from_pipeline_json():
    with open(os.path.join(cost.REPO, "services", "pipeline.json"), encoding="utf-8") as f:
        pipeline = json.load(f)
    fn, model = pipeline["functions"], pipeline["model_defaults"]
    d = cost.load_pipeline_defaults()
    assert (d.preprocess_mb, d.preprocess_batch) == (fn["preprocess"]["memory"], fn["preprocess"]["batch_size"])
    assert (d.inference_mb, d.inference_batch) == (model["memory"], model["batch_size"])
    assert (d.notify_mb, d.notify_batch, d.api_mb) == (fn["notify"]["memory"], fn["notify"]["batch_size"],
                                                       fn["api"]["memory"])


def test_report_shape_and_assumptions_left_alone():
    before = cost.breakdown(MEASURED, cost.Design())["total_usd_per_1k"]
    r = cost.report(MEASURED, upload_bytes=2_000_000)
    assert r["cost_per_1k_images_usd"] == r["default"]["total_usd_per_1k"] > 0
    assert [row["memory_mb"] for row in r["memory_sizes"]] == [512, 1024, 1769, 2048, 3008]
    assert r["assumptions"]["upload_bytes"] == 2_000_000
    # report() restores the module's assumptions in place: later calls with the defaults are unchanged.
    assert cost.ASSUMPTIONS["upload_bytes"] != 2_000_000
    assert cost.breakdown(MEASURED, cost.Design())["total_usd_per_1k"] == before
    text = cost.markdown(r)
    for needle in ("per 1,000 images", "(a) polling", "(b) event-driven", "(c) webhook", "(d) bulk ingest",
                   "arm64 at speed ratio 0.8", "Idle:", "inferring"):
        assert needle in text, needle


def test_the_api_writes_no_platform_lines_by_default():
    quiet = cost.breakdown(MEASURED, cost.Design())
    loud = cost.breakdown(MEASURED, cost.Design(api_platform_logs=True))
    api_invocations = loud["counts_per_image"]["lambda_invocations"]["api"]
    extra = loud["counts_per_image"]["log_bytes_per_image"] - quiet["counts_per_image"]["log_bytes_per_image"]
    assert extra == pytest.approx(api_invocations * cost.ASSUMPTIONS["log_bytes_per_invocation"])


def test_the_script_prints_from_the_checked_in_results(tmp_path):
    assert cost.main(["--results", str(tmp_path / "absent.json")]) == 2
    results = os.path.join(cost.HERE, "results.json")
    if not os.path.isfile(results):
        pytest.skip("no bench/results.json checked in")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cost.main(["--results", results]) == 0
    text = out.getvalue()
    assert "per 1,000 images" in text and "(d) bulk ingest" in text and "Idle:" in text
