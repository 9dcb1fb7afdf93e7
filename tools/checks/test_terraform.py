"""Ties the Terraform under terraform/ to the code it deploys and to the settings shared with the local stack.

The facts come from two files and nowhere else:
  services/contract.json  generated from the Rust code (`make contract`): each function's environment variables
                          and AWS permissions, the S3 prefixes and notifications, the SQS size limit of the
                          pixel queues, the table's keys and indexes, statuses, auth modes, events, metrics
  services/pipeline.json  the settings shared by the local stack and the Terraform defaults

Each contract is a `check_*` function returning a list of problems (empty: in step). The tests run every check
on the real tree, and again on mutated copies (of the Terraform or of the contract) to show that the check
notices the drift:

  check_environment   each function's environment == contract functions.*.environment
  check_iam           each function's grants == contract functions.*.permissions, resolved to the right ARNs;
                      KMS through S3 only as far as each function's object grants need it
  check_no_wildcards  no wildcard action anywhere (a Deny-on-insecure-transport guard excepted)
  check_pipeline      defaults == pipeline.json; visibility timeouts >= 6x the consumer's timeout + window
  check_prefixes      S3 prefixes, notifications and lifecycle rules == contract s3_prefixes/notifications
  check_message_size  pixel queues and their DLQs take contract sqs.max_message_bytes
  check_table         table key, TTL, indexes (keys, projection) == contract table
  check_vocabulary    auth modes, event source and detail-types, outcomes == contract
  check_metrics       every metric the dashboard and the alarms read is in contract metrics, with its
                      exact dimension set (EMF); the dashboard covers the pipeline's metrics
  check_versions      every versions.tf pins hashicorp/aws ">= 5.80, < 7.0" and terraform ">= 1.7"; no
                      attribute deprecated in provider 6

Run with the .venv/hcl interpreter: `.venv/hcl/bin/python -m pytest tools/checks/test_terraform.py`.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import tf_docs  # noqa: E402
import tf_refs  # noqa: E402
import tf_tests  # noqa: E402
import tfparse  # noqa: E402
from tfparse import literal, text  # noqa: E402

REPO = HERE.parents[1]
TERRAFORM = REPO / "terraform"
CONTRACT = REPO / "services" / "contract.json"
PIPELINE = REPO / "services" / "pipeline.json"
OPENAPI = REPO / "services" / "api" / "openapi.json"

MODULES = ("storage", "queues", "compute", "api", "monitoring")
SERVICE_FUNCTIONS = ("api", "preprocess", "sweeper", "notify")
CONSUMERS = ("preprocess", "sweeper", "notify")
PROVIDER_CONSTRAINT = ">= 5.80, < 7.0"
TERRAFORM_CONSTRAINT = ">= 1.7"


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())


def load(terraform: Path, module: str | None = None) -> tfparse.Module:
    return tfparse.load_module(terraform / "modules" / module if module else terraform)


################################################################################
# Reading HCL that python-hcl2 leaves as text
################################################################################


def split_top_level(body: str, separator: str = ",") -> list[str]:
    """Splits on separators outside brackets and strings."""
    parts, depth, current, quoted = [], 0, [], False
    for i, char in enumerate(body):
        if char == '"' and (i == 0 or body[i - 1] != "\\"):
            quoted = not quoted
        if not quoted:
            if char in "([{":
                depth += 1
            elif char in ")]}":
                depth -= 1
            elif char == separator and depth == 0:
                parts.append("".join(current).strip())
                current = []
                continue
        current.append(char)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def _inner(expression: str, opening: str) -> str:
    assert expression.startswith(opening) and expression.endswith(")"), expression
    return expression[len(opening) : -1]


def optional_defaults(type_expression: str) -> dict:
    """The defaults of a type constraint's optional() attributes: {attribute: default}, nested objects as dicts.
    `map(object({...}))` gives the defaults of the element object; an optional without default is None."""
    expression = type_expression.strip()
    if expression.startswith("${") and expression.endswith("}"):
        expression = expression[2:-1].strip()
    if expression.startswith("map("):
        expression = _inner(expression, "map(")
    body = _inner(expression, "object(").strip()
    assert body.startswith("{") and body.endswith("}"), body
    defaults: dict = {}
    for item in split_top_level(body[1:-1]):
        key, _, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not value.startswith("optional("):
            continue
        arguments = split_top_level(_inner(value, "optional("))
        attribute_type = arguments[0]
        default = arguments[1] if len(arguments) > 1 else None
        if attribute_type.startswith("object("):
            nested = optional_defaults(attribute_type)
            defaults[key] = nested
        else:
            defaults[key] = None if default is None else json.loads(default)
    return defaults


def resolve(expression: str, values: dict) -> float:
    """Evaluates arithmetic over references (`local.x.y`, `model.timeout`) found in `values` (dotted names)."""
    body = expression[2:-1] if expression.startswith("${") else expression
    for name in sorted(values, key=len, reverse=True):
        body = body.replace(name, repr(values[name]))
    assert re.fullmatch(r"[0-9.\s+\-*/()]+", body), f"not plain arithmetic after substitution: {body}"
    return eval(body, {"__builtins__": {}})  # noqa: S307 - digits and operators only, checked above


def keys_of_for_object(expression: str) -> set[str]:
    """The attribute names of the object a `{for ... : k => {A = ..., B = ...}}` expression builds."""
    return set(re.findall(r"\b(IMGPIPE_[A-Z0-9_]+)\s*=", expression))


def statements(document: dict) -> list[dict]:
    return tfparse.blocks(document, "statement")


################################################################################
# The contracts
################################################################################


def check_environment(terraform: Path, contract: dict) -> list[str]:
    problems = []
    root = load(terraform)
    static = root.locals["function_environment"].body
    per_model = text(root.locals["inference_environment"].body)
    functions = contract["functions"]
    expected_static = {name for name, spec in functions.items() if not spec["per_model"]}
    if set(static) != expected_static:
        problems.append(f"local.function_environment has {sorted(static)}, the contract's functions are {sorted(expected_static)}")
    for name, spec in sorted(functions.items()):
        actual = keys_of_for_object(per_model) if spec["per_model"] else set(static.get(name, {}))
        for variable in sorted(set(spec["environment"]) - actual):
            problems.append(f"{name}: {variable} is read by the code but not set by Terraform")
        for variable in sorted(actual - set(spec["environment"])):
            problems.append(f"{name}: {variable} is set by Terraform but not read by the code")
    # Wiring: every function instance takes its environment from local.environment, inference per model.
    call = root.modules["function"].body
    if call.get("environment_variables") != "${local.environment[each.key]}":
        problems.append("module.function does not take environment_variables from local.environment[each.key]")
    if "inference-${name}" not in text(root.locals["environment"].body):
        problems.append("local.environment does not name the per-model environments inference-{model}")
    compute = load(terraform, "compute")
    if compute.resource("aws_lambda_function", "this")["environment"][0]["variables"] != "${var.environment_variables}":
        problems.append("compute: aws_lambda_function.this does not take its variables from var.environment_variables")
    # Fixed values the code and the layers agree on.
    for local_name, value in (("model_dir", "/opt/model"), ("ort_library", "/opt/lib/libonnxruntime.so.1")):
        if literal(root.locals[local_name].body) != value:
            problems.append(f"local.{local_name} is {literal(root.locals[local_name].body)}, the layers put it at {value}")
    return problems


def grant_pairs(grants: list[dict]) -> set[tuple[str, str]]:
    return {(action, grant["resource"]) for grant in grants for action in grant["actions"]}


# How each resource kind of the contract resolves to ARNs in terraform/iam.tf (python-hcl2's rendering).
FIXED_GRANT_RESOURCES = {
    "table": ["${module.storage.table_arn}"],
    "table_indexes": "${module.storage.table_index_arns}",
    "event_bus": ["${module.queues.event_bus_arn}"],
    "secret:webhook": "${local.webhook_secret_arn == null ? [] : [local.webhook_secret_arn]}",
    "queue:preprocess": ['${module.queues.queue_arns["preprocess"]}'],
    "queue:notify": ['${module.queues.queue_arns["notify"]}'],
    "queue:inference:*": '${[for name in local.model_names : module.queues.queue_arns["inference-${name}"]]}',
    "queue:dlq:*": "${[for key in local.swept_dlqs : module.queues.dlq_arns[key]]}",
}


def check_iam(terraform: Path, contract: dict) -> list[str]:
    problems = []
    root = load(terraform)
    permissions = literal(root.locals["permissions"].body)
    functions = contract["functions"]
    if set(permissions) != set(functions):
        problems.append(f"local.permissions has {sorted(permissions)}, the contract's functions are {sorted(functions)}")
    for name, spec in sorted(functions.items()):
        actual, expected = grant_pairs(permissions.get(name, [])), grant_pairs(spec["permissions"])
        for action, kind in sorted(expected - actual):
            problems.append(f"{name}: {action} on {kind} is in the contract but not granted")
        for action, kind in sorted(actual - expected):
            problems.append(f"{name}: {action} on {kind} is granted but not in the contract")

    # Every kind resolves, and to the right ARNs.
    fixed = root.locals["fixed_grant_resources"].body
    for kind, want in FIXED_GRANT_RESOURCES.items():
        if fixed.get(kind) != want:
            problems.append(f"local.fixed_grant_resources[{kind!r}] is {fixed.get(kind)!r}, expected {want!r}")
    prefixes = literal(root.locals["object_prefixes"].body)
    object_kinds = text(root.locals["object_grant_resources"].body)
    for want in ('"bucket_prefix:${prefix}" => ["${module.storage.bucket_arn}/${prefix}*"]',
                 '"bucket_list:${prefix}" => [module.storage.bucket_arn]'):
        if want not in object_kinds:
            problems.append(f"local.object_grant_resources does not map {want}")
    known = set(fixed) | {f"bucket_prefix:{p}" for p in prefixes.values()} | {f"bucket_list:{p}" for p in prefixes.values()}
    known.add("queue:inference")  # the function's own model queue, resolved per function
    for name, spec in sorted(functions.items()):
        for grant in spec["permissions"]:
            if grant["resource"] not in known:
                problems.append(f"{name}: the contract's resource kind {grant['resource']} has no ARNs in terraform/iam.tf")
    statements_text = text(root.locals["policy_statements"].body)
    for fragment, why in (
        ('grant.resource == "queue:inference" ? [module.queues.queue_arns[key]]', "queue:inference is the function's own queue"),
        ('variable = "s3:prefix"', "a bucket listing is limited by s3:prefix"),
        ('if startswith(grant.resource, "bucket_list:")', "only bucket_list grants get the s3:prefix condition"),
        ("local.kms_statements[key]", "the KMS statements are added"),
    ):
        if fragment not in statements_text:
            problems.append(f"local.policy_statements: {why} ({fragment} not found)")
    roles = root.locals["function_roles"].body
    if "inference-${name}\" => \"inference\"" not in text(roles).replace('\\"', '"'):
        problems.append("local.function_roles does not give every inference-{model} the inference grants")
    if root.modules["function"].body.get("policy_statements") != "${local.policy_statements[each.key]}":
        problems.append("module.function does not take policy_statements from local.policy_statements[each.key]")

    # The compute module: its own log group, X-Ray, then exactly the statements it is given, all Allow.
    compute = load(terraform, "compute")
    document = compute.data_source("aws_iam_policy_document", "this")
    by_sid = {literal(s.get("sid")): s for s in document.get("statement", [])}
    logs = by_sid.get("WriteOwnLogs", {})
    if set(literal(logs.get("actions", []))) != {"logs:CreateLogStream", "logs:PutLogEvents"} or logs.get(
        "resources"
    ) != ['"${aws_cloudwatch_log_group.this.arn}:*"']:
        problems.append("compute: logs must be CreateLogStream/PutLogEvents on the function's own log group only")
    if set(literal(by_sid.get("WriteTraces", {}).get("actions", []))) != {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}:
        problems.append("compute: the X-Ray statement must be PutTraceSegments/PutTelemetryRecords only")
    if set(by_sid) != {"WriteOwnLogs", "WriteTraces"}:
        problems.append(f"compute: unexpected static statements {sorted(set(by_sid) - {'WriteOwnLogs', 'WriteTraces'})}")
    dynamic = [d["statement"] for d in document.get("dynamic", []) if "statement" in d]
    if len(dynamic) != 1 or dynamic[0].get("for_each") != "${var.policy_statements}":
        problems.append("compute: the given statements must come from one dynamic statement over var.policy_statements")
    elif literal(dynamic[0]["content"][0].get("effect")) != "Allow":
        problems.append("compute: the given statements must be Allow")

    # KMS through S3 only as far as each function's object grants need it: Decrypt to read, GenerateDataKey to
    # write; through DynamoDB for every function.
    kms_via_s3 = literal(root.locals["kms_via_s3"].body)
    for name, spec in sorted(functions.items()):
        s3 = {a for a, kind in grant_pairs(spec["permissions"]) if kind.startswith("bucket_prefix:")}
        needed = ({"kms:Decrypt"} if s3 & {"s3:GetObject", "s3:GetObjectVersion"} else set()) | (
            {"kms:GenerateDataKey"} if "s3:PutObject" in s3 else set()
        )
        granted = set(kms_via_s3.get(name, []))
        if granted != needed:
            problems.append(f"{name}: KMS through S3 is {sorted(granted)}, its S3 grants need {sorted(needed)}")
    if set(literal(root.locals["kms_via_dynamodb"].body)) != {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}:
        problems.append("kms_via_dynamodb must be Decrypt, Encrypt, GenerateDataKey")
    kms = text(root.locals["kms_statements"].body)
    if "if var.kms_key_arn != null && length(statement.actions) > 0" not in kms:
        problems.append("local.kms_statements must exist only with a key, and leave out a statement without actions")
    if kms.count("kms:ViaService") != 2:
        problems.append("local.kms_statements must limit both KMS statements with kms:ViaService")
    return problems


def _policy_actions(statement: dict, module: tfparse.Module) -> list[str]:
    actions = statement.get("actions", [])
    if isinstance(actions, list):
        return [literal(a) for a in actions]
    if actions == "${statement.value.actions}":
        return []  # a dynamic statement over data: checked where the data is
    local = re.fullmatch(r"\$\{local\.([A-Za-z_]\w*).*\}", actions)
    assert local, f"actions expression not understood: {actions}"
    return [text(s) for s in tfparse.strings(module.locals[local.group(1)].body)]


def _wildcard(action: str, effect: str, conditions: set[str]) -> bool:
    guard = effect == "Deny" and re.fullmatch(r"[a-z0-9]+:\*", action) and conditions & {"aws:SecureTransport", "s3:TlsVersion"}
    return "*" in action and not guard


def check_no_wildcards(terraform: Path) -> list[str]:
    """No action with '*' in any policy document or in the grant data, except the Deny-insecure-transport
    guards (`<service>:*`); no NotAction; Resource "*" only for X-Ray and in KMS key policies."""
    problems = []
    for module in tfparse.load_tree(terraform).values():
        key_policies = {
            m.group(1)
            for body in (d.body for (t, _), d in module.resources.items() if t == "aws_kms_key")
            for m in [re.search(r"data\.aws_iam_policy_document\.(\w+)", str(body.get("policy", "")))]
            if m
        }
        for (dtype, name), decl in module.data.items():
            if dtype != "aws_iam_policy_document":
                continue
            where = f"{module.path.relative_to(terraform.parent)}: {name}"
            for statement in statements(decl.body):
                sid = literal(statement.get("sid")) if isinstance(statement.get("sid"), str) and tfparse.is_literal(statement.get("sid")) else "?"
                if "not_actions" in statement or "not_resources" in statement:
                    problems.append(f"{where}/{sid}: NotAction/NotResource")
                effect = literal(statement.get("effect", '"Allow"')) if tfparse.is_literal(statement.get("effect", '"Allow"')) else "?"
                conditions = {literal(c.get("variable")) for c in statement.get("condition", []) if tfparse.is_literal(c.get("variable"))}
                for action in _policy_actions(statement, module):
                    if _wildcard(action, effect, conditions):
                        problems.append(f"{where}/{sid}: wildcard action {action}")
                resources = statement.get("resources", [])
                if effect == "Allow" and isinstance(resources, list) and '"*"' in resources:
                    actions = _policy_actions(statement, module)
                    if name not in key_policies and not all(a.startswith("xray:") for a in actions):
                        problems.append(f"{where}/{sid}: Resource \"*\" for {actions}")
    # The data the dynamic statements are built from.
    root = load(terraform)
    for function, grants in literal(root.locals["permissions"].body).items():
        for grant in grants:
            for action in grant["actions"]:
                if "*" in action:
                    problems.append(f"terraform/iam.tf: {function}/{grant['resource']}: wildcard action {action}")
    for sid, deny in tfparse.load_module(terraform / "modules" / "storage").locals["bucket_policy_denies"].body.items():
        for action in literal(deny["actions"]):
            if _wildcard(action, "Deny", {literal(deny["variable"])}) or "*" in action and not sid.startswith("Deny"):
                problems.append(f"terraform/modules/storage: bucket/{sid}: wildcard action {action}")
    return problems


def check_pipeline(terraform: Path, pipeline: dict) -> list[str]:
    problems = []
    root = load(terraform)
    functions = optional_defaults(root.variables["functions"].body["type"])
    models = optional_defaults(root.variables["models"].body["type"])
    names = {"timeout": "timeout", "memory": "memory_size", "batch_size": "batch_size",
             "batching_window": "batching_window", "max_concurrency": "max_concurrency", "schedule": "schedule"}

    if root.variable_default("project") != pipeline["project"]:
        problems.append(f"root: project defaults to {root.variable_default('project')}, pipeline.json says {pipeline['project']}")
    if set(functions) != set(pipeline["functions"]):
        problems.append(f"root: var.functions has {sorted(functions)}, pipeline.json {sorted(pipeline['functions'])}")
    for function, values in pipeline["functions"].items():
        for key, value in values.items():
            got = functions.get(function, {}).get(names[key])
            if got != value:
                problems.append(f"root: functions.{function}.{names[key]} defaults to {got}, pipeline.json says {value}")
    for key, value in pipeline["model_defaults"].items():
        if models.get(names[key]) != value:
            problems.append(f"root: models.*.{names[key]} defaults to {models.get(names[key])}, pipeline.json model_defaults says {value}")
    receive = {"preprocess": functions["preprocess"].get("max_receive_count"), "notify": functions["notify"].get("max_receive_count"),
               "inference": models.get("max_receive_count")}
    for queue, values in pipeline["queues"].items():
        if receive.get(queue) != values["max_receive_count"]:
            problems.append(f"root: the {queue} max_receive_count defaults to {receive.get(queue)}, pipeline.json says {values['max_receive_count']}")
        if root.variable_default("dlq_message_retention_seconds") != values["dlq_retention"]:
            problems.append(f"root: dlq_message_retention_seconds defaults to {root.variable_default('dlq_message_retention_seconds')}, pipeline.json {queue} says {values['dlq_retention']}")
    for variable, value in (("webhook_timeout_seconds", pipeline["webhooks"]["timeout_secs"]),
                            ("upload_grace_seconds", pipeline["upload_grace_secs"])):
        if root.variable_default(variable) != value:
            problems.append(f"root: {variable} defaults to {root.variable_default(variable)}, pipeline.json says {value}")

    api = load(terraform, "api")
    cors = tfparse.blocks(api.resource("aws_apigatewayv2_api", "this"), "cors_configuration")
    if len(cors) != 1:
        problems.append(f"api: {len(cors)} cors_configuration blocks, expected 1")
    else:
        for key in ("allow_methods", "allow_headers", "expose_headers"):
            if literal(cors[0].get(key)) != pipeline["cors"][key]:
                problems.append(f"api: cors {key} is {literal(cors[0].get(key))}, pipeline.json says {pipeline['cors'][key]}")
        if literal(cors[0].get("allow_credentials")) is not False:
            problems.append("api: cors must not allow credentials")
    if api.variable_default("cors_max_age_seconds") != pipeline["cors"]["max_age"]:
        problems.append(f"api: cors_max_age_seconds defaults to {api.variable_default('cors_max_age_seconds')}, pipeline.json says {pipeline['cors']['max_age']}")

    # Visibility timeouts: at least 6x the consumer's timeout plus its batching window; the swept DLQs the
    # same for the sweeper.
    values = {f"local.{f}.{k}": v for f in SERVICE_FUNCTIONS for k, v in functions[f].items() if isinstance(v, (int, float))}
    values.update({f"model.{k}": v for k, v in models.items() if isinstance(v, (int, float))})
    sweeper_expression = root.locals["sweeper_visibility_timeout_seconds"].body
    sweeper_visibility = resolve(sweeper_expression, values)
    values["local.sweeper_visibility_timeout_seconds"] = sweeper_visibility

    def need(consumer: str) -> float:
        settings = models if consumer == "inference" else functions[consumer]
        return 6 * settings["timeout"] + settings["batching_window"]

    if sweeper_visibility < need("sweeper"):
        problems.append(f"root: the swept DLQs' visibility timeout is {sweeper_visibility} < 6 x the sweeper's timeout + window")
    service_queues = root.locals["service_queues"].body
    for queue in ("preprocess", "notify"):
        got = resolve(str(service_queues[queue]["visibility_timeout_seconds"]), values)
        if got < need(queue):
            problems.append(f"root: visibility timeout of {queue} is {got} < 6 x its timeout + window ({need(queue)})")
    model_queues = text(root.locals["model_queues"].body)
    match = re.search(r"visibility_timeout_seconds = ([^,]+),", model_queues)
    got = resolve(match.group(1), values) if match else 0
    if got < need("inference"):
        problems.append(f"root: visibility timeout of the model queues is {got} < 6 x the model's timeout + window ({need('inference')})")
    if literal(service_queues["preprocess"]["dlq_visibility_timeout_seconds"]) if tfparse.is_literal(service_queues["preprocess"]["dlq_visibility_timeout_seconds"]) else service_queues["preprocess"]["dlq_visibility_timeout_seconds"] != "${local.sweeper_visibility_timeout_seconds}":
        problems.append("root: the preprocess DLQ (swept) must have the sweeper's visibility timeout")
    if "dlq_visibility_timeout_seconds = local.sweeper_visibility_timeout_seconds" not in model_queues:
        problems.append("root: the model DLQs (swept) must have the sweeper's visibility timeout")
    # The sweeper consumes exactly the DLQs of preprocess and of every model.
    if text(root.locals["swept_dlqs"].body) != '${concat(["preprocess"], [for name in local.model_names : "inference-${name}"])}':
        problems.append(f"root: local.swept_dlqs is {text(root.locals['swept_dlqs'].body)}, expected preprocess and every model")
    sweeper_mappings = text(root.locals["service_functions"].body["sweeper"]["event_source_mappings"])
    if "for key in local.swept_dlqs" not in sweeper_mappings or "module.queues.dlq_arns[key]" not in sweeper_mappings:
        problems.append("root: the sweeper's event source mappings must be the swept DLQs")
    return problems


def check_prefixes(terraform: Path, contract: dict) -> list[str]:
    problems = []
    expected = contract["s3_prefixes"]
    root, storage = load(terraform), load(terraform, "storage")
    prefixes = literal(root.locals["object_prefixes"].body)
    if prefixes != expected:
        problems.append(f"root: local.object_prefixes {prefixes} != contract s3_prefixes {expected}")
    if storage.variable_default("object_prefixes") != expected:
        problems.append(f"storage: object_prefixes default != contract s3_prefixes {expected}")
    if root.modules["storage"].body.get("object_prefixes") != "${local.object_prefixes}":
        problems.append("root: module.storage does not get local.object_prefixes")

    # Notifications: (prefix, queue) pairs == the contract's.
    def prefix_of(value: str) -> str:
        match = re.fullmatch(r"\$\{local\.object_prefixes\.(\w+)\}", value)
        return prefixes.get(match.group(1), value) if match else literal(value)

    actual = [(prefix_of(n["prefix"]), literal(n["queue"])) for n in root.locals["notifications"].body]
    wanted = [(n["prefix"], n["queue"]) for n in contract["notifications"]]
    if sorted(actual) != sorted(wanted):
        problems.append(f"root: local.notifications {actual} != contract notifications {wanted}")
    notifications = [m for m in tfparse.load_tree(terraform).values() for (t, _), d in m.resources.items() if t == "aws_s3_bucket_notification"]
    if len(notifications) != 1:
        problems.append(f"{len(notifications)} aws_s3_bucket_notification resources; S3 keeps one per bucket")
    queue_blocks = tfparse.blocks(storage.resource("aws_s3_bucket_notification", "this"), "queue")
    if len(queue_blocks) != 1:
        problems.append("storage: the notification must have one (dynamic) queue block over var.notifications")
    else:
        queue = queue_blocks[0]
        if literal(queue.get("events")) != ["s3:ObjectCreated:*"]:
            problems.append(f"storage: notification events are {queue.get('events')}")
        if queue.get("filter_prefix") != "${queue.value.prefix}" or queue.get("queue_arn") != "${queue.value.queue_arn}":
            problems.append("storage: the notification must filter on each notification's prefix, to its queue")
    if "module.queues.queue_arns[n.queue]" not in text(root.modules["storage"].body.get("notifications")):
        problems.append("root: module.storage notifications must go to module.queues.queue_arns[<queue>]")

    # Lifecycle: every code prefix expires (current after the retention, noncurrent a day later); no rule on a
    # prefix the code does not write; the whole-bucket rule aborts multipart uploads.
    expiring = dict(re.findall(r"(\w+)\s*=\s*var\.object_prefixes\.(\w+)", str(storage.locals["expiring_prefixes"].body)))
    if expiring != {name: name for name in expected}:
        problems.append(f"storage: local.expiring_prefixes expires {sorted(expiring)}, expected every prefix {sorted(expected)}")
    lifecycle = storage.resource("aws_s3_bucket_lifecycle_configuration", "this")
    rules = tfparse.blocks(lifecycle, "rule")
    filters = {text(f.get("prefix")) for rule in rules for f in rule.get("filter", []) if "prefix" in f}
    for prefix in sorted(filters - {"${rule.value}", ""} - set(expected.values())):
        problems.append(f"storage: a lifecycle rule filters on {prefix}, not a prefix of the contract")
    whole = [r for r in rules if any(text(f.get("prefix")) == "" for f in r.get("filter", []))]
    if not whole or not whole[0].get("abort_incomplete_multipart_upload"):
        problems.append("storage: the whole-bucket rule must abort incomplete multipart uploads")
    per_prefix = [r for r in rules if any(f.get("prefix") == "${rule.value}" for f in r.get("filter", []))]
    if not per_prefix or per_prefix[0].get("noncurrent_version_expiration", [{}])[0].get("noncurrent_days") != "${var.prefix_noncurrent_version_expiration_days}":
        problems.append("storage: each prefix's noncurrent versions must expire after prefix_noncurrent_version_expiration_days")
    elif storage.variable_default("prefix_noncurrent_version_expiration_days") != 1:
        problems.append("storage: prefix noncurrent versions must expire after 1 day by default")
    if any(f == {} for rule in rules for f in rule.get("filter", [])):
        problems.append("storage: an empty filter {} draws a provider warning from 5.90 on; use prefix = \"\"")

    # The bucket policy: TLS only, and no unconditional write under uploads/.
    denies = storage.locals["bucket_policy_denies"].body
    tls = denies.get("DenyInsecureTransport", {})
    if (literal(tls.get("actions")), literal(tls.get("test")), literal(tls.get("variable")), literal(tls.get("values"))) != (
        ["s3:*"], "Bool", "aws:SecureTransport", ["false"]
    ) or tls.get("resources") != ["${aws_s3_bucket.this.arn}", '"${aws_s3_bucket.this.arn}/*"']:
        problems.append("storage: the bucket policy must deny s3:* without TLS on the bucket and its objects")
    overwrite = denies.get("DenyUploadOverwrites", {})
    if (literal(overwrite.get("actions")), literal(overwrite.get("test")), literal(overwrite.get("variable")), literal(overwrite.get("values"))) != (
        ["s3:PutObject"], "Null", "s3:if-none-match", ["true"]
    ) or overwrite.get("resources") != ['"${aws_s3_bucket.this.arn}/${var.object_prefixes.uploads}*"']:
        problems.append("storage: the bucket policy must deny s3:PutObject on uploads/* without If-None-Match")
    return problems


def check_message_size(terraform: Path, contract: dict) -> list[str]:
    """The pixel queues (and the DLQs their messages move to) take messages as large as the code assumes."""
    problems = []
    limit = contract["sqs"]["max_message_bytes"]
    root, queues = load(terraform), load(terraform, "queues")
    if root.locals["pixel_message_bytes"].body != limit:
        problems.append(f"root: local.pixel_message_bytes is {root.locals['pixel_message_bytes'].body}, the contract's max_message_bytes is {limit}")
    service_queues = root.locals["service_queues"].body
    model_queues = text(root.locals["model_queues"].body)
    for queue in ("preprocess", "notify", "inference"):
        pixel = queue in contract["sqs"]["pixel_queues"]
        if queue == "inference":
            sized = "max_message_size = local.pixel_message_bytes" in model_queues
        else:
            sized = service_queues[queue].get("max_message_size") == "${local.pixel_message_bytes}"
        if pixel and not sized:
            problems.append(f"root: the {queue} queues carry pixels but do not take local.pixel_message_bytes")
        if not pixel and sized:
            problems.append(f"root: the {queue} queue takes the pixel size but carries no pixels")
    for name in ("this", "dlq"):
        if queues.resource("aws_sqs_queue", name).get("max_message_size") != "${each.value.max_message_size}":
            problems.append(f"queues: aws_sqs_queue.{name} does not take max_message_size from var.queues")
    return problems


def check_table(terraform: Path, contract: dict) -> list[str]:
    problems = []
    spec = contract["table"]
    storage = load(terraform, "storage")
    table = storage.resource("aws_dynamodb_table", "this")
    attributes = {literal(a["name"]): literal(a["type"]) for a in table.get("attribute", [])}
    numeric = {"created_at"}
    wanted_attributes = {spec["hash_key"]: "S"}
    for index in spec["indexes"].values():
        wanted_attributes[index["hash_key"]] = "N" if index["hash_key"] in numeric else "S"
        wanted_attributes[index["range_key"]] = "N" if index["range_key"] in numeric else "S"
    if attributes != wanted_attributes:
        problems.append(f"table attributes {attributes} != {wanted_attributes}")
    if literal(table.get("hash_key")) != spec["hash_key"] or "range_key" in table:
        problems.append(f"table key must be {spec['hash_key']} alone")
    names = {f"${{local.{k}}}": literal(d.body) for k, d in storage.locals.items() if k.endswith("_name") and tfparse.is_literal(d.body)}
    indexes = {}
    for index in table.get("global_secondary_index", []):
        name = names.get(index["name"], text(index["name"]))
        entry = {"hash_key": literal(index["hash_key"]), "range_key": literal(index["range_key"]), "projection": literal(index["projection_type"])}
        if "non_key_attributes" in index:
            entry["non_key_attributes"] = literal(index["non_key_attributes"])
        indexes[name] = entry
    if indexes != spec["indexes"]:
        problems.append(f"indexes {indexes} != contract {spec['indexes']}")
    ttl = table.get("ttl", [{}])[0]
    if literal(ttl.get("attribute_name")) != spec["ttl_attribute"] or ttl.get("enabled") is not True:
        problems.append(f"TTL must be enabled on {spec['ttl_attribute']}")
    if table.get("point_in_time_recovery", [{}])[0].get("enabled") != "${var.point_in_time_recovery_enabled}":
        problems.append("the table's point-in-time recovery must follow var.point_in_time_recovery_enabled")
    if storage.variable_default("point_in_time_recovery_enabled") is not True:
        problems.append("point-in-time recovery must be on by default")
    if spec["status_shards"] != load_json(PIPELINE)["status_shards"]:
        problems.append("contract table.status_shards != pipeline.json status_shards")
    return problems


def check_routes(terraform: Path, contract: dict) -> list[str]:
    """API Gateway routes exactly the contract's routes to the api function, and the OpenAPI document
    describes exactly those: a route missing from the gateway is its 404 on AWS although every local
    test passes."""
    problems = []
    body = load(terraform, "api").locals["route_keys"].body
    routed = re.findall(r'"([A-Z]+ /[^"]*)"', body)
    if sorted(routed) != sorted(contract["routes"]):
        problems.append(f"api: local.route_keys {sorted(routed)} != contract routes {sorted(contract['routes'])}")
    documented = sorted(f"{method.upper()} {path}" for path, item in load_json(OPENAPI)["paths"].items()
                        for method in item if method in ("get", "post", "put", "patch", "delete"))
    if documented != sorted(contract["routes"]):
        problems.append(f"openapi.json: paths {documented} != contract routes {sorted(contract['routes'])}")
    return problems


def check_vocabulary(terraform: Path, contract: dict) -> list[str]:
    """Auth modes, the events' source and detail-types, and the outcomes the alarms read, as the code has them."""
    problems = []
    root, api, queues, monitoring = load(terraform), load(terraform, "api"), load(terraform, "queues"), load(terraform, "monitoring")
    modes = contract["auth_modes"]
    for where, module, variable in (("root", root, "api_authorization_mode"), ("api", api, "authorization_mode")):
        condition = module.variables[variable].body["validation"][0]["condition"]
        found = re.findall(r'\\?"(\w+)\\?"', condition.split("contains(")[1].split("]")[0])
        if sorted(found) != sorted(modes):
            problems.append(f"{where}: {variable} accepts {found}, the contract's auth modes are {modes}")
    if set(api.locals["authorization_type"].body.split("}")[0].replace("${{", "").split(",")) and not all(
        f"{m} = " in api.locals["authorization_type"].body for m in modes
    ):
        problems.append(f"api: local.authorization_type does not map every auth mode {modes}")
    if root.locals["function_environment"].body["api"].get("IMGPIPE_AUTH_MODE") != "${var.api_authorization_mode}":
        problems.append("api: IMGPIPE_AUTH_MODE must be var.api_authorization_mode")
    events = contract["events"]
    if queues.variable_default("event_source") != events["source"]:
        problems.append(f"queues: event_source defaults to {queues.variable_default('event_source')}, the contract's is {events['source']}")
    if queues.variable_default("failed_detail_type") not in events["detail_types"]:
        problems.append(f"queues: failed_detail_type {queues.variable_default('failed_detail_type')} is not one of {events['detail_types']}")
    outcomes = {
        literal(metric["dimensions"]["outcome"])
        for query in monitoring.resource("aws_cloudwatch_metric_alarm", "failure_rate").get("metric_query", [])
        for metric in query.get("metric", [])
        if "outcome" in metric.get("dimensions", {})
    }
    if outcomes != set(contract["terminal_statuses"]):
        problems.append(f"monitoring: the failure rate reads outcomes {sorted(outcomes)}, the terminal statuses are {contract['terminal_statuses']}")
    return problems


# Every metric of the pipeline's namespace that a dashboard widget or an alarm names.
LIST_METRIC = re.compile(r"\[var\.metrics_namespace,([^\]{]*)")
SEARCH_METRIC = re.compile(r"SEARCH\('\{(\$\{var\.metrics_namespace\}[^}]*)\}\s+MetricName=\\*\"(\w+)\\*\"")
INSIGHTS_METRIC = re.compile(r"SELECT \w+\((\w+)\) FROM SCHEMA\(([^)]*)\)")


def metric_references(monitoring: tfparse.Module) -> list[tuple[str, str, tuple[str, ...]]]:
    """(where, metric name, dimension keys) of every pipeline metric the monitoring module reads."""
    found = []

    def unquote(token: str) -> str:
        return token.strip().strip("\\").strip('"').strip("\\")

    def scan(where: str, value) -> None:
        if isinstance(value, list) and value and value[0] == "${var.metrics_namespace}":
            parts = [literal(v) if tfparse.is_literal(v) else v for v in value[1:] if not isinstance(value, dict) and not isinstance(v, dict)]
            found.append((where, parts[0], tuple(parts[1::2])))
            return
        if isinstance(value, dict):
            for v in value.values():
                scan(where, v)
        elif isinstance(value, list):
            for v in value:
                scan(where, v)
        elif isinstance(value, str):
            for m in LIST_METRIC.finditer(value):
                tokens = [unquote(t) for t in m.group(1).split(",") if t.strip()]
                found.append((where, tokens[0], tuple(tokens[1::2])))
            for m in SEARCH_METRIC.finditer(value):
                schema = [t.strip() for t in m.group(1).split(",")]
                if schema[0] == "${var.metrics_namespace}":
                    found.append((where, m.group(2), tuple(schema[1:])))
            for m in INSIGHTS_METRIC.finditer(value):
                schema = [unquote(t) for t in m.group(2).split(",")]
                found.append((where, m.group(1), tuple(schema[1:])))

    for name in ("pipeline_widgets", "aws_widgets"):
        scan(f"local.{name}", monitoring.locals[name].body)
    for (rtype, name), decl in monitoring.resources.items():
        if rtype != "aws_cloudwatch_metric_alarm":
            continue
        body = decl.body
        if body.get("namespace") == "${var.metrics_namespace}":
            found.append((f"alarm {name}", literal(body["metric_name"]), tuple(body.get("dimensions", {}))))
        for query in body.get("metric_query", []):
            for metric in query.get("metric", []):
                if metric.get("namespace") == "${var.metrics_namespace}":
                    found.append((f"alarm {name}", literal(metric["metric_name"]), tuple(metric.get("dimensions", {}))))
            if "expression" in query:
                scan(f"alarm {name}", query["expression"])
    return found


# What the dashboard must show of the pipeline (names from the contract).
DASHBOARD_METRICS = {"jobs_ended", "jobs_failed", "jobs_completed", "end_to_end_ms", "stage_ms", "batch_size"}
ALARM_METRICS = {"jobs_ended", "swept", "configuration_faults"}


def check_metrics(terraform: Path, contract: dict) -> list[str]:
    problems = []
    monitoring = load(terraform, "monitoring")
    spec = {m["name"]: tuple(m["dimensions"]) for m in contract["metrics"]["metrics"]}
    if monitoring.variable_default("metrics_namespace") != contract["metrics"]["namespace"]:
        problems.append(f"monitoring: metrics_namespace defaults to {monitoring.variable_default('metrics_namespace')}, the contract's is {contract['metrics']['namespace']}")
    references = metric_references(monitoring)
    for where, name, dimensions in references:
        if name not in spec:
            problems.append(f"monitoring: {where} reads {name}, not a metric of the contract")
        elif set(dimensions) != set(spec[name]):
            problems.append(f"monitoring: {where} reads {name} by {list(dimensions)}, the code emits it by {list(spec[name])}")
    on_dashboard = {name for where, name, _ in references if where.startswith("local.")}
    for name in sorted(DASHBOARD_METRICS - on_dashboard):
        problems.append(f"monitoring: the dashboard does not show {name}")
    alarmed = {name for where, name, _ in references if where.startswith("alarm")}
    for name in sorted(ALARM_METRICS - alarmed):
        problems.append(f"monitoring: no alarm reads {name}")
    return problems


DEPRECATED = [
    # (pattern, what to use instead): attributes deprecated in hashicorp/aws 6.
    (re.compile(r"data\.aws_region\.[\w]+\.name\b"), "data.aws_region.<name>.id"),
    (re.compile(r"\bis_enabled\s*="), "state on aws_cloudwatch_event_rule"),
    (re.compile(r"\binline_policy\s*\{|\bmanaged_policy_arns\s*="), "aws_iam_role_policy / attachments"),
    (re.compile(r"data\.aws_caller_identity\.[\w]+\.id\b"), "account_id"),
]


def check_versions(terraform: Path) -> list[str]:
    problems = []
    for versions in sorted(terraform.rglob("versions.tf")):
        if ".terraform" in versions.parts:
            continue
        where = versions.relative_to(terraform)
        parsed = tfparse.load_file(versions)
        if set(parsed) != {"terraform"}:
            problems.append(f"{where}: holds more than the terraform block")
            continue
        block = parsed["terraform"][0]
        if text(block.get("required_version")) != TERRAFORM_CONSTRAINT:
            problems.append(f"{where}: required_version is {text(block.get('required_version'))}, expected {TERRAFORM_CONSTRAINT} (mock providers need 1.7)")
        aws = block.get("required_providers", [{}])[0].get("aws", {})
        if text(aws.get("source")) != "hashicorp/aws" or text(aws.get("version")) != PROVIDER_CONSTRAINT:
            problems.append(f"{where}: hashicorp/aws is {text(aws.get('version'))}, expected {PROVIDER_CONSTRAINT}")
    dirs = {d for d in tfparse.module_dirs(terraform)}
    for directory in sorted(dirs):
        if not (directory / "versions.tf").is_file():
            problems.append(f"{directory.relative_to(terraform)}: no versions.tf")
    for path in sorted(p for p in terraform.rglob("*.tf") if ".terraform" not in p.parts):
        source = path.read_text()
        for pattern, instead in DEPRECATED:
            for match in pattern.finditer(source):
                problems.append(f"{path.relative_to(terraform)}: {match.group(0)} is deprecated in provider 6 (use {instead})")
    return problems


################################################################################
# Tests on the real tree
################################################################################

TF_FILES = sorted(p for p in TERRAFORM.rglob("*.tf") if ".terraform" not in p.parts)
CHECKS = {
    "environment": lambda tf, c: check_environment(tf, c),
    "iam": lambda tf, c: check_iam(tf, c),
    "no_wildcards": lambda tf, c: check_no_wildcards(tf),
    "pipeline": lambda tf, c: check_pipeline(tf, load_json(PIPELINE)),
    "prefixes": lambda tf, c: check_prefixes(tf, c),
    "message_size": lambda tf, c: check_message_size(tf, c),
    "table": lambda tf, c: check_table(tf, c),
    "vocabulary": lambda tf, c: check_vocabulary(tf, c),
    "routes": lambda tf, c: check_routes(tf, c),
    "metrics": lambda tf, c: check_metrics(tf, c),
    "versions": lambda tf, c: check_versions(tf),
}


@pytest.fixture(scope="module")
def contract() -> dict:
    return load_json(CONTRACT)


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_every_file_parses(path: Path):
    assert isinstance(tfparse.load_file(path), dict)


def test_there_is_terraform_to_check():
    assert len(TF_FILES) >= 30


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_passes_on_the_tree(name: str, contract: dict):
    assert CHECKS[name](TERRAFORM, contract) == []


@pytest.mark.parametrize("module", MODULES)
def test_module_layout(module: str):
    directory = TERRAFORM / "modules" / module
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (directory / name).is_file(), f"{module}/{name} is missing"
    assert not tfparse.load_module(directory).providers, f"{module} configures a provider"


def test_only_environments_configure_providers():
    with_provider = sorted(m.path for m in tfparse.load_tree(TERRAFORM).values() if m.providers)
    assert with_provider == [TERRAFORM / "envs" / "dev", TERRAFORM / "envs" / "prod"]


def test_references_resolve():
    problems, stats = tf_refs.check(TERRAFORM)
    assert problems == []
    assert stats["modules"] == 8 and stats["references"] > 1000


def test_terraform_tests_parse_and_refer_to_what_exists():
    problems, stats = tf_tests.check(TERRAFORM)
    assert problems == []
    assert stats["files"] >= 2 and stats["runs"] >= 4 and stats["references"] > 20


def test_readme_tables_are_current():
    assert tf_docs.stale(TERRAFORM) == []


def test_checkov_skips_carry_reasons():
    skips = []
    for path in TF_FILES:
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                skips.append(line.strip())
                assert re.fullmatch(r"#checkov:skip=CKV2?_AWS_\d+:.{40,}", line.strip()), line
    assert skips, "no skips found: the pattern is wrong"


def test_contract_has_the_documented_schema(contract: dict):
    assert set(contract) == {"_comment", "functions", "s3_prefixes", "notifications", "sqs", "table", "statuses",
                             "terminal_statuses", "error_codes", "auth_modes", "routes", "events", "metrics"}
    for name, spec in contract["functions"].items():
        assert set(spec) == {"per_model", "environment", "permissions"}, name
        assert all(set(g) == {"actions", "resource"} for g in spec["permissions"]), name
    assert [n for n, s in contract["functions"].items() if s["per_model"]] == ["inference"]
    assert set(contract["terminal_statuses"]) <= set(contract["statuses"])
    assert all(set(m) == {"name", "unit", "dimensions"} for m in contract["metrics"]["metrics"])


def test_optional_defaults_reads_nested_objects():
    parsed = optional_defaults('${object({a = optional(object({x = optional(number, 1), y = optional(string, "s")}), {}), b = optional(number)})}')
    assert parsed == {"a": {"x": 1, "y": "s"}, "b": None}


def test_ort_threads_follow_memory():
    # max(1, ceil(memory / 1769)) capped at 6, always set explicitly.
    body = text(load(TERRAFORM).locals["models"].body)
    assert "model.ort_threads != null ? model.ort_threads : min(6, max(1, ceil(model.memory_size / 1769)))" in body
    assert load(TERRAFORM).locals["inference_environment"].body.count("IMGPIPE_ORT_THREADS = tostring(model.ort_threads)") == 1


def test_model_routing_defaults_to_the_first_model():
    root = load(TERRAFORM)
    assert root.locals["model_routing"].body == "${var.model_routing != null ? var.model_routing : {(local.model_names[0]) = 100}}"
    assert root.variable_default("models") == {"efficientnet-lite0": {}}
    assert root.variable_default("model_routing") is None


def test_inference_gets_the_layers_of_its_architecture_and_model():
    functions = text(load(TERRAFORM).locals["model_functions"].body)
    assert "layers = [aws_lambda_layer_version.onnxruntime[model.architecture].arn, aws_lambda_layer_version.model[name].arn]" in functions
    layers = load(TERRAFORM)
    assert text(layers.resource("aws_lambda_layer_version", "onnxruntime")["layer_name"]) == "${local.name_prefix}-onnxruntime-${each.key}"
    assert text(layers.resource("aws_lambda_layer_version", "model")["layer_name"]) == "${local.name_prefix}-model-${each.key}"
    assert layers.resource("aws_lambda_layer_version", "onnxruntime")["compatible_architectures"] == ["${each.key}"]


def test_artifacts_come_from_the_manifest():
    root = load(TERRAFORM)
    assert text(root.locals["function_packages"].body) == '${{for key, role in local.function_roles : key => "lambda/${role}-${local.function_architectures[key]}.zip"}}'
    assert "layers/onnxruntime-${arch}.zip" in text(root.locals["ort_layer_paths"].body)
    assert "layers/model-${name}-${model.variant}.zip" in text(root.locals["model_layer_paths"].body)
    checks = root.resource("terraform_data", "artifacts")["lifecycle"][0]["precondition"]
    assert len(checks) == 4
    assert [c["condition"] for c in checks] == [
        "${local.manifest.schema == 1}",
        "${length(local.unlisted_artifacts) == 0}",
        "${length(local.missing_artifacts) == 0}",
        "${length(local.stale_artifacts) == 0}",
    ]
    function = load(TERRAFORM, "compute").resource("aws_lambda_function", "this")
    assert function["lifecycle"][0]["precondition"][0]["condition"] == "${fileexists(var.filename)}"
    # The queue URL goes to preprocess only.
    assert "queue_url" not in text(root.locals["models_json"].body)
    assert "queue_url = module.queues.queue_urls" in text(root.locals["models_json_with_queues"].body)


def test_unauthenticated_api_fails_closed():
    root = load(TERRAFORM)
    conditions = [p["condition"] for p in root.resource("terraform_data", "configuration")["lifecycle"][0]["precondition"]]
    assert conditions[:2] == [
        '${var.api_authorization_mode != "none" || var.allow_unauthenticated}',
        '${var.api_authorization_mode != "none" || !local.production_like}',
    ]
    assert root.variable_default("allow_unauthenticated") is False
    pattern = re.search(r'regex\("(.*)", var\.environment\)', text(root.locals["production_like"].body)).group(1).replace("\\\\", "\\")
    for name, refused in (("prod", True), ("production", True), ("live", True), ("prod-eu", True), ("eu-live", True),
                          ("dev", False), ("product", False), ("staging", False), ("liveness", False)):
        assert bool(re.search(pattern, name)) is refused, name
    prod = tfparse.load_module(TERRAFORM / "envs" / "prod")
    assert "allow_unauthenticated" not in prod.modules["imgpipe"].body


def test_every_alarm_notifies():
    monitoring = load(TERRAFORM, "monitoring")
    alarms = [(name, d.body) for (t, name), d in monitoring.resources.items() if t == "aws_cloudwatch_metric_alarm"]
    assert len(alarms) >= 11
    for name, body in alarms:
        assert body.get("alarm_actions") == "${local.alarm_actions}", name
    assert monitoring.locals["alarm_actions"].body == ["${local.alarm_topic}"]
    listed = text(monitoring.outputs["alarm_actions"].body["value"])
    for name, _ in alarms:
        assert f"aws_cloudwatch_metric_alarm.{name}" in listed, f"output alarm_actions misses {name}"


def test_the_sweeper_runs_on_a_schedule():
    sweeper = load(TERRAFORM).locals["service_functions"].body["sweeper"]
    assert sweeper["schedule"] == {"expression": "${local.sweeper.schedule}", "input": '${jsonencode({sweep = "scheduled"})}'}
    compute = load(TERRAFORM, "compute")
    assert compute.resource("aws_lambda_permission", "schedule")["source_arn"] == "${aws_cloudwatch_event_rule.schedule[0].arn}"
    assert "event_bus_name" not in compute.resource("aws_cloudwatch_event_rule", "schedule"), "the schedule is on the default bus"


def test_event_source_mappings_report_batch_item_failures():
    mapping = load(TERRAFORM, "compute").resource("aws_lambda_event_source_mapping", "this")
    assert literal(mapping["function_response_types"]) == ["ReportBatchItemFailures"]
    assert mapping["scaling_config"][0]["maximum_concurrency"] == "${each.value.max_concurrency}"


def test_environments():
    dev = tfparse.load_module(TERRAFORM / "envs" / "dev")
    call = dev.modules["imgpipe"].body
    assert call["artifacts_dir"] == "${var.artifacts_dir}" and dev.variable_default("artifacts_dir") is None
    assert call["reserve_concurrency"] == "${!var.new_account}"
    assert dev.variable_default("quota_images_per_day") == 1000
    # The default artifacts_dir resolves to <repo>/build/artifacts from an environment directory.
    assert text(load(TERRAFORM).locals["artifacts_dir"].body) == '${var.artifacts_dir != null ? var.artifacts_dir : "${path.root}/../../../build/artifacts"}'
    assert (TERRAFORM / "envs" / "dev" / "../../../build/artifacts").resolve() == REPO / "build" / "artifacts"
    prod = tfparse.load_module(TERRAFORM / "envs" / "prod")
    call = prod.modules["imgpipe"].body
    assert call["deletion_protection_enabled"] is True and call["point_in_time_recovery_enabled"] is True
    assert call["log_retention_days"] == 365
    assert call["kms_key_arn"] == "${aws_kms_key.storage.arn}"
    assert "iam" in text(prod.variables["api_authorization_mode"].body["validation"][0]["condition"])
    assert "none" not in text(prod.variables["api_authorization_mode"].body["validation"][0]["condition"])


def test_gitignore_says_why_there_is_no_lock_file():
    # No lock file can be generated without registry access; the file must not claim one is committed.
    gitignore = (TERRAFORM / ".gitignore").read_text()
    assert "is not\n# committed" in gitignore or "is not committed" in gitignore
    assert not list(TERRAFORM.rglob(".terraform.lock.hcl"))


def test_fixture_manifest_describes_its_files():
    # The plan's artifact checks (terraform_data.artifacts) must pass on the terraform test fixtures.
    root = TERRAFORM / "tests" / "fixtures" / "artifacts"
    manifest = load_json(root / "manifest.json")
    assert manifest["schema"] == 1
    import hashlib

    for entry in manifest["files"]:
        data = (root / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["size"], entry["path"]
    kinds = {entry["kind"] for entry in manifest["files"]}
    assert kinds == {"function", "onnxruntime_layer", "model_layer"}


################################################################################
# Negative tests: each check notices a drift, in the Terraform or in the contract
################################################################################


@pytest.fixture
def tf_copy(tmp_path: Path) -> Path:
    target = tmp_path / "terraform"
    shutil.copytree(TERRAFORM, target, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    return target


def mutate(path: Path, old: str, new: str) -> None:
    source = path.read_text()
    assert old in source, f"{old!r} not in {path}"
    path.write_text(source.replace(old, new, 1))


def changed(contract: dict, edit) -> dict:
    result = copy.deepcopy(contract)
    edit(result)
    return result


# (check, file to mutate under terraform/, old text, new text, the problems the check must report)
TERRAFORM_DRIFTS = [
    ("environment", "main.tf", "      IMGPIPE_MAX_PIXELS       =", "      IMGPIPE_MAX_PIXEL        =",
     ["preprocess: IMGPIPE_MAX_PIXELS is read by the code but not set by Terraform",
      "preprocess: IMGPIPE_MAX_PIXEL is set by Terraform but not read by the code"]),
    ("environment", "main.tf", "      IMGPIPE_TOP_K          = tostring(var.top_k)\n", "",
     ["inference: IMGPIPE_TOP_K is read by the code but not set by Terraform"]),
    ("iam", "iam.tf", '{ actions = ["s3:GetObjectVersion"], resource = "bucket_prefix:ingest/" },',
     '{ actions = ["s3:GetObject"], resource = "bucket_prefix:ingest/" },',
     ["preprocess: s3:GetObjectVersion on bucket_prefix:ingest/ is in the contract but not granted",
      "preprocess: s3:GetObject on bucket_prefix:ingest/ is granted but not in the contract"]),
    ("iam", "iam.tf", '{ actions = ["dynamodb:UpdateItem"], resource = "table" },',
     '{ actions = ["dynamodb:UpdateItem", "dynamodb:DeleteItem"], resource = "table" },',
     ["notify: dynamodb:DeleteItem on table is granted but not in the contract"]),
    ("iam", "iam.tf", '"queue:dlq:*"       = [for key in local.swept_dlqs : module.queues.dlq_arns[key]]',
     '"queue:dlq:*"       = [for key in local.swept_dlqs : module.queues.queue_arns[key]]',
     ["local.fixed_grant_resources['queue:dlq:*'] is '${[for key in local.swept_dlqs : module.queues.queue_arns[key]]}', "
      "expected '${[for key in local.swept_dlqs : module.queues.dlq_arns[key]]}'"]),
    ("iam", "iam.tf", "    notify     = []\n", '    notify     = ["kms:Decrypt"]\n',
     ["notify: KMS through S3 is ['kms:Decrypt'], its S3 grants need []"]),
    ("iam", "iam.tf", " if var.kms_key_arn != null && length(statement.actions) > 0", " if var.kms_key_arn != null",
     ["local.kms_statements must exist only with a key, and leave out a statement without actions"]),
    ("no_wildcards", "iam.tf", '{ actions = ["dynamodb:UpdateItem"], resource = "table" },',
     '{ actions = ["dynamodb:*"], resource = "table" },',
     ["terraform/iam.tf: notify/table: wildcard action dynamodb:*"]),
    ("no_wildcards", "modules/compute/main.tf", 'actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]',
     'actions = ["xray:Put*"]', ["terraform/modules/compute: this/WriteTraces: wildcard action xray:Put*"]),
    ("pipeline", "variables.tf", "memory_size          = optional(number, 1024)", "memory_size          = optional(number, 3008)",
     ["root: functions.preprocess.memory_size defaults to 3008, pipeline.json says 1024"]),
    ("pipeline", "variables.tf", "batch_size           = optional(number, 8)", "batch_size           = optional(number, 4)",
     ["root: models.*.batch_size defaults to 4, pipeline.json model_defaults says 8"]),
    ("pipeline", "main.tf", "6 * local.notify.timeout", "5 * local.notify.timeout",
     ["root: visibility timeout of notify is 150 < 6 x its timeout + window (180)"]),
    ("pipeline", "main.tf", "visibility_timeout_seconds     = 6 * model.timeout + model.batching_window",
     "visibility_timeout_seconds     = 5 * model.timeout + model.batching_window",
     ["root: visibility timeout of the model queues is 301 < 6 x the model's timeout + window (361)"]),
    ("pipeline", "main.tf", "sweeper_visibility_timeout_seconds = 6 * local.sweeper.timeout",
     "sweeper_visibility_timeout_seconds = 2 * local.sweeper.timeout",
     ["root: the swept DLQs' visibility timeout is 120 < 6 x the sweeper's timeout + window"]),
    ("prefixes", "main.tf", '    results = "results/"', '    results = "output/"',
     ["root: local.object_prefixes {'uploads': 'uploads/', 'ingest': 'ingest/', 'results': 'output/'} != contract s3_prefixes "
      "{'uploads': 'uploads/', 'ingest': 'ingest/', 'results': 'results/'}"]),
    ("prefixes", "main.tf", '    { prefix = local.object_prefixes.ingest, queue = "preprocess" },\n', "",
     ["root: local.notifications [('uploads/', 'preprocess')] != contract notifications [('uploads/', 'preprocess'), ('ingest/', 'preprocess')]"]),
    ("prefixes", "modules/storage/main.tf", "    ingest  = var.object_prefixes.ingest\n", "",
     ["storage: local.expiring_prefixes expires ['results', 'uploads'], expected every prefix ['ingest', 'results', 'uploads']"]),
    ("prefixes", "modules/storage/main.tf", '      variable  = "s3:if-none-match"', '      variable  = "s3:if-match"',
     ["storage: the bucket policy must deny s3:PutObject on uploads/* without If-None-Match"]),
    ("prefixes", "modules/storage/main.tf", '      variable  = "aws:SecureTransport"\n      values    = ["false"]',
     '      variable  = "aws:SecureTransport"\n      values    = ["true"]',
     ["storage: the bucket policy must deny s3:* without TLS on the bucket and its objects"]),
    ("message_size", "main.tf", "  pixel_message_bytes = 262144", "  pixel_message_bytes = 1048576",
     ["root: local.pixel_message_bytes is 1048576, the contract's max_message_bytes is 262144"]),
    ("message_size", "modules/queues/main.tf", "  max_message_size        = each.value.max_message_size\n", "",
     ["queues: aws_sqs_queue.dlq does not take max_message_size from var.queues"]),
    ("table", "modules/storage/main.tf", '    non_key_attributes = ["status"]', '    non_key_attributes = ["status", "owner_label"]',
     ["indexes {'status-created_at': {'hash_key': 'status_shard', 'range_key': 'created_at', 'projection': 'KEYS_ONLY'}, "
      "'owner-created_at': {'hash_key': 'owner', 'range_key': 'created_at', 'projection': 'KEYS_ONLY'}, "
      "'source_owner-source_key': {'hash_key': 'source_owner', 'range_key': 'source_key', 'projection': 'INCLUDE', 'non_key_attributes': ['status', 'owner_label']}} "
      "!= contract {'status-created_at': {'hash_key': 'status_shard', 'range_key': 'created_at', 'projection': 'KEYS_ONLY'}, "
      "'owner-created_at': {'hash_key': 'owner', 'range_key': 'created_at', 'projection': 'KEYS_ONLY'}, "
      "'source_owner-source_key': {'hash_key': 'source_owner', 'range_key': 'source_key', 'projection': 'INCLUDE', 'non_key_attributes': ['status']}}"]),
    ("vocabulary", "modules/queues/variables.tf", '  default     = "Image Failed"', '  default     = "Image Errored"',
     ["queues: failed_detail_type Image Errored is not one of ['Image Completed', 'Image Failed']"]),
    ("metrics", "modules/monitoring/main.tf", 'MetricName=\\"jobs_failed\\"', 'MetricName=\\"job_failures\\"',
     ["monitoring: local.pipeline_widgets reads job_failures, not a metric of the contract",
      "monitoring: the dashboard does not show jobs_failed"]),
    ("metrics", "modules/monitoring/main.tf", '[var.metrics_namespace, "jobs_completed", "model", model,',
     '[var.metrics_namespace, "jobs_completed", "function", model,',
     ["monitoring: local.pipeline_widgets reads jobs_completed by ['function'], the code emits it by ['model']"]),
    ("metrics", "modules/monitoring/main.tf", '  dimensions          = { reason = "dead_letter" }', '  dimensions          = { cause = "dead_letter" }',
     ["monitoring: alarm swept_dead_letters reads swept by ['cause'], the code emits it by ['reason']"]),
    ("metrics", "modules/monitoring/main.tf", 'SUM(configuration_faults) FROM SCHEMA(\\"${var.metrics_namespace}\\", \\"function\\", \\"stage\\")',
     'SUM(configuration_faults) FROM SCHEMA(\\"${var.metrics_namespace}\\", \\"function\\")',
     ["monitoring: alarm configuration_faults reads configuration_faults by ['function'], the code emits it by ['function', 'stage']"]),
    ("versions", "modules/queues/versions.tf", '">= 5.80, < 7.0"', '">= 5.80, < 6.0"',
     ["modules/queues/versions.tf: hashicorp/aws is >= 5.80, < 6.0, expected >= 5.80, < 7.0"]),
    ("versions", "modules/monitoring/main.tf", "data.aws_region.current.id", "data.aws_region.current.name",
     ["modules/monitoring/main.tf: data.aws_region.current.name is deprecated in provider 6 (use data.aws_region.<name>.id)"]),
]


@pytest.mark.parametrize("check,file,old,new,expected", TERRAFORM_DRIFTS, ids=lambda v: v if isinstance(v, str) and len(v) < 40 and "/" not in v and " " not in v else None)
def test_check_notices_a_terraform_drift(tf_copy: Path, contract: dict, check, file, old, new, expected):
    mutate(tf_copy / file, old, new)
    assert CHECKS[check](tf_copy, contract) == expected


# (check, change to the contract, the problems the check must report)
CONTRACT_DRIFTS = [
    ("environment", lambda c: c["functions"]["sweeper"]["environment"].append("IMGPIPE_SWEEP_LIMIT"),
     ["sweeper: IMGPIPE_SWEEP_LIMIT is read by the code but not set by Terraform"]),
    ("environment", lambda c: c["functions"]["inference"]["environment"].remove("IMGPIPE_TOP_K"),
     ["inference: IMGPIPE_TOP_K is set by Terraform but not read by the code"]),
    ("iam", lambda c: c["functions"]["api"]["permissions"].append({"actions": ["dynamodb:BatchWriteItem"], "resource": "table"}),
     ["api: dynamodb:BatchWriteItem on table is in the contract but not granted"]),
    ("iam", lambda c: c["functions"]["notify"]["permissions"].append({"actions": ["sqs:SendMessage"], "resource": "queue:webhooks"}),
     ["notify: sqs:SendMessage on queue:webhooks is in the contract but not granted",
      "notify: the contract's resource kind queue:webhooks has no ARNs in terraform/iam.tf"]),
    ("iam", lambda c: c["functions"]["notify"]["permissions"].append({"actions": ["s3:GetObject"], "resource": "bucket_prefix:results/"}),
     ["notify: s3:GetObject on bucket_prefix:results/ is in the contract but not granted",
      "notify: KMS through S3 is [], its S3 grants need ['kms:Decrypt']"]),
    ("prefixes", lambda c: c["notifications"].append({"prefix": "results/", "queue": "notify"}),
     ["root: local.notifications [('uploads/', 'preprocess'), ('ingest/', 'preprocess')] != contract notifications "
      "[('uploads/', 'preprocess'), ('ingest/', 'preprocess'), ('results/', 'notify')]"]),
    ("message_size", lambda c: c["sqs"].update(max_message_bytes=1048576),
     ["root: local.pixel_message_bytes is 262144, the contract's max_message_bytes is 1048576"]),
    ("message_size", lambda c: c["sqs"]["pixel_queues"].append("preprocess"),
     ["root: the preprocess queues carry pixels but do not take local.pixel_message_bytes"]),
    ("table", lambda c: c["table"].update(ttl_attribute="expiry"), ["TTL must be enabled on expiry"]),
    ("vocabulary", lambda c: c["auth_modes"].append("cognito"),
     ["root: api_authorization_mode accepts ['iam', 'jwt', 'none'], the contract's auth modes are ['iam', 'jwt', 'none', 'cognito']",
      "api: authorization_mode accepts ['iam', 'jwt', 'none'], the contract's auth modes are ['iam', 'jwt', 'none', 'cognito']",
      "api: local.authorization_type does not map every auth mode ['iam', 'jwt', 'none', 'cognito']"]),
    ("routes", lambda c: c["routes"].append("GET /images/{id}/pixels"),
     ["api: local.route_keys ['DELETE /images/{id}', 'GET /images', 'GET /images/{id}', 'GET /models', 'POST /images'] "
      "!= contract routes ['DELETE /images/{id}', 'GET /images', 'GET /images/{id}', 'GET /images/{id}/pixels', 'GET /models', 'POST /images']",
      "openapi.json: paths ['DELETE /images/{id}', 'GET /images', 'GET /images/{id}', 'GET /models', 'POST /images'] "
      "!= contract routes ['DELETE /images/{id}', 'GET /images', 'GET /images/{id}', 'GET /images/{id}/pixels', 'GET /models', 'POST /images']"]),
    ("vocabulary", lambda c: c["events"].update(source="imgpipe.pipeline"),
     ["queues: event_source defaults to imgpipe, the contract's is imgpipe.pipeline"]),
    ("metrics", lambda c: c["metrics"]["metrics"][5].update(dimensions=["outcome", "model"]),
     ["monitoring: local.pipeline_widgets reads jobs_ended by ['outcome'], the code emits it by ['outcome', 'model']",
      "monitoring: local.pipeline_widgets reads jobs_ended by ['outcome'], the code emits it by ['outcome', 'model']",
      "monitoring: alarm failure_rate reads jobs_ended by ['outcome'], the code emits it by ['outcome', 'model']",
      "monitoring: alarm failure_rate reads jobs_ended by ['outcome'], the code emits it by ['outcome', 'model']"]),
]


@pytest.mark.parametrize("check,edit,expected", CONTRACT_DRIFTS, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CONTRACT_DRIFTS)])
def test_check_notices_a_contract_drift(contract: dict, check, edit, expected):
    assert CHECKS[check](TERRAFORM, changed(contract, edit)) == expected


def test_pipeline_check_follows_pipeline_json(tmp_path: Path):
    pipeline = load_json(PIPELINE)
    pipeline["functions"]["sweeper"]["schedule"] = "rate(10 minutes)"
    pipeline["queues"]["notify"]["max_receive_count"] = 3
    assert check_pipeline(TERRAFORM, pipeline) == [
        "root: functions.sweeper.schedule defaults to rate(5 minutes), pipeline.json says rate(10 minutes)",
        "root: the notify max_receive_count defaults to 8, pipeline.json says 3",
    ]


def test_metric_scanner_finds_every_kind_of_reference():
    kinds = {where.split(" ")[0] for where, _, _ in metric_references(load(TERRAFORM, "monitoring"))}
    names = {name for _, name, _ in metric_references(load(TERRAFORM, "monitoring"))}
    assert kinds == {"local.pipeline_widgets", "alarm"}
    assert names >= DASHBOARD_METRICS | ALARM_METRICS | {"failures", "cold_start", "webhooks", "quota_refusals"}


def test_refs_fail_on_a_missing_variable(tf_copy: Path):
    variables = tf_copy / "modules" / "compute" / "variables.tf"
    source = variables.read_text()
    block = re.search(r'variable "tracing_mode" \{.*?\n\}\n', source, re.S).group(0)
    variables.write_text(source.replace(block, ""))
    problems, _ = tf_refs.check(tf_copy)
    assert "modules/compute/main.tf: aws_lambda_function.this: var.tracing_mode is not declared" in problems


def test_refs_fail_on_a_missing_required_argument_and_a_wrong_output(tf_copy: Path):
    mutate(tf_copy / "main.tf", "  bucket_arn                       = module.storage.bucket_arn\n", "")
    mutate(tf_copy / "iam.tf", "module.storage.table_arn", "module.storage.table_ar")
    problems, _ = tf_refs.check(tf_copy)
    assert "./main.tf: module.queues: required argument bucket_arn (no default in queues) is missing" in problems
    assert "./iam.tf: local.fixed_grant_resources: module.storage.table_ar is not an output of storage" in problems


def test_refs_fail_on_a_cross_variable_validation(tf_copy: Path):
    mutate(tf_copy / "modules" / "compute" / "variables.tf",
           "condition     = length(var.layers) <= 5", "condition     = length(var.layers) <= var.memory_size")
    problems, _ = tf_refs.check(tf_copy)
    assert any("validation refers to var.memory_size" in p for p in problems), problems
