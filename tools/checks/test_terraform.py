"""Ties the Terraform under terraform/ to the code it deploys and to the settings shared with the local stack.

Each contract is a `check_*` function returning a list of problems (empty: in step). The tests run every check
on the real tree, and again on mutated copies to show that the check would notice a drift:

  check_environment   each function's environment == the VARIABLES its config reads (services/core/src/config.rs)
  check_iam           each function's grants == its list in services/permissions.json, on the right ARNs
  check_no_wildcards  no wildcard action in any policy (a Deny-on-insecure-transport guard excepted)
  check_pipeline      variable defaults == services/pipeline.json; visibility timeouts >= 6x the timeouts
  check_prefixes      S3 prefixes == services/core/src/keys.rs; the upload notification filters on them
  check_message_size  the inference queue and its DLQ take MAX_SQS_MESSAGE_BYTES (services/core/src/messages.rs)
  check_table         table keys, index names and TTL attribute == services/core/src/store.rs

Run with the .venv/hcl interpreter: `.venv/hcl/bin/python -m pytest tools/checks/test_terraform.py`.
"""

from __future__ import annotations

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
import tfparse  # noqa: E402
from tfparse import literal, text  # noqa: E402

REPO = HERE.parents[1]
TERRAFORM = REPO / "terraform"
CORE = REPO / "services" / "core" / "src"
CONFIG_RS = CORE / "config.rs"
KEYS_RS = CORE / "keys.rs"
STORE_RS = CORE / "store.rs"
MESSAGES_RS = CORE / "messages.rs"
PERMISSIONS = REPO / "services" / "permissions.json"
PIPELINE = REPO / "services" / "pipeline.json"

FUNCTIONS = ("api", "preprocess", "inference")
CONSUMERS = ("preprocess", "inference")
MODULES = ("storage", "queues", "compute", "api", "monitoring")
CONFIG_STRUCTS = {"api": "ApiConfig", "preprocess": "PreprocessConfig", "inference": "InferenceConfig"}
PREFIX_CONSTANTS = {"uploads": "UPLOAD_PREFIX"}


################################################################################
# The code side
################################################################################


def rust_str_constants(source: str) -> dict[str, str]:
    """`pub const NAME: &str = "value";` of a Rust source."""
    return dict(re.findall(r'pub const ([A-Z][A-Z0-9_]*): &(?:\'static )?str = "((?:[^"\\]|\\.)*)";', source))


def rust_usize_constants(source: str) -> dict[str, int]:
    """`pub const NAME: usize = 262_144;` of a Rust source."""
    return {name: int(value.replace("_", "")) for name, value in re.findall(r"pub const ([A-Z][A-Z0-9_]*): usize = ([0-9_]+);", source)}


def config_variables(config_rs: Path) -> dict[str, set[str]]:
    """The environment variable names each function's config reads: its `VARIABLES` array, resolved."""
    source = config_rs.read_text()
    constants = rust_str_constants(source)
    result = {}
    for function, struct in CONFIG_STRUCTS.items():
        match = re.search(
            r"impl %s \{.*?pub const VARIABLES: &'static \[&'static str\] = &\[(.*?)\];" % struct, source, re.S
        )
        assert match, f"{config_rs}: no {struct}::VARIABLES"
        names = set()
        for item in (i.strip() for i in match.group(1).split(",")):
            if not item:
                continue
            if item.startswith('"'):
                names.add(item.strip('"'))
            else:
                assert item in constants, f"{config_rs}: {struct}::VARIABLES names {item}, not a string constant"
                names.add(constants[item])
        result[function] = names
    return result


def key_prefixes(keys_rs: Path) -> dict[str, str]:
    constants = rust_str_constants(keys_rs.read_text())
    return {name: constants[const] for name, const in PREFIX_CONSTANTS.items()}


def permission_pairs(permissions: dict, function: str) -> set[tuple[str, str]]:
    return {(action, grant["resource"]) for grant in permissions[function] for action in grant["actions"]}


################################################################################
# The Terraform side
################################################################################


def load(terraform: Path, module: str | None = None) -> tfparse.Module:
    return tfparse.load_module(terraform / "modules" / module if module else terraform)


def substitute_defaults(value: str, module: tfparse.Module) -> str:
    """Replaces `${var.X}` and `${var.X.Y}` by the literal default of X (or its attribute Y)."""

    def replace(match: re.Match) -> str:
        name, attribute = match.group(1), match.group(2)
        if name not in module.variables or "default" not in module.variables[name].body:
            return match.group(0)
        default = module.variable_default(name)
        if attribute:
            if not isinstance(default, dict) or attribute not in default:
                return match.group(0)  # an attribute the default lacks: left as written, so it never matches
            default = default[attribute]
        return str(default)

    return re.sub(r"\$\{var\.([A-Za-z_][\w-]*)(?:\.([A-Za-z_][\w-]*))?\}", replace, value)


def evaluate_arithmetic(expression: str, module: tfparse.Module) -> float:
    """Evaluates an expression of numbers, + - * / and var.X with numeric defaults."""
    body = expression[2:-1] if expression.startswith("${") else expression
    body = re.sub(r"var\.([A-Za-z_][\w-]*)", lambda m: repr(module.variable_default(m.group(1))), body)
    assert re.fullmatch(r"[0-9.\s+\-*/()]+", body), f"not plain arithmetic: {expression}"
    return eval(body, {"__builtins__": {}})  # noqa: S307 - digits and operators only, checked above


def statements(document: dict) -> list[dict]:
    return tfparse.blocks(document, "statement")


def resource_kind(resource: str, compute: tfparse.Module) -> str:
    """Names a compute-module IAM resource the way services/permissions.json does."""
    resolved = substitute_defaults(text(resource), compute)
    exact = {
        "${var.table_arn}": "table",
        "${var.table_index_arns}": "table_indexes",
        "${var.bucket_arn}": "bucket",
        "${var.preprocess_queue_arn}": "queue:preprocess",
        "${var.inference_queue_arn}": "queue:inference",
    }
    if resolved in exact:
        return exact[resolved]
    match = re.fullmatch(r"\$\{var\.bucket_arn\}/([a-z0-9-]+/)\*", resolved)
    if match:
        return f"bucket_prefix:{match.group(1)}"
    return f"unrecognised:{resolved}"


def listed_prefixes(statement: dict, compute: tfparse.Module) -> list[str]:
    """The `s3:prefix` values (StringLike `prefix*`) a statement on the bucket itself is limited to."""
    prefixes = []
    for condition in tfparse.blocks(statement, "condition"):
        if literal(condition.get("test")) != "StringLike" or literal(condition.get("variable")) != "s3:prefix":
            continue
        for value in condition.get("values", []):
            match = re.fullmatch(r"([a-z0-9-]+/)\*", substitute_defaults(text(value), compute))
            prefixes.append(match.group(1) if match else f"unrecognised:{text(value)}")
    return prefixes


def statement_pairs(statement: dict, compute: tfparse.Module) -> set[tuple[str, str]]:
    actions = literal(statement.get("actions", []))
    resources = statement.get("resources", [])
    kinds = [resource_kind(resources, compute)] if isinstance(resources, str) else [
        resource_kind(r, compute) for r in resources
    ]
    if "bucket" in kinds:
        # The bucket itself only with a listing scoped to prefixes; unscoped stays "bucket" and fails.
        prefixes = listed_prefixes(statement, compute)
        if prefixes:
            kinds = [k for k in kinds if k != "bucket"] + [f"bucket_list:{p}" for p in prefixes]
    return {(action, kind) for action in actions for kind in kinds}


################################################################################
# The contracts
################################################################################


def check_environment(terraform: Path, config_rs: Path = CONFIG_RS) -> list[str]:
    problems = []
    compute = load(terraform, "compute")
    expected = config_variables(config_rs)
    environments = compute.locals["environment_variables"].body
    if set(environments) != set(FUNCTIONS):
        problems.append(f"environment_variables has functions {sorted(environments)}, expected {list(FUNCTIONS)}")
    for function in FUNCTIONS:
        actual = set(environments.get(function, {}))
        for name in sorted(expected[function] - actual):
            problems.append(f"{function}: {name} is read by the code but not set by Terraform")
        for name in sorted(actual - expected[function]):
            problems.append(f"{function}: {name} is set by Terraform but not read by the code")
    lambda_function = compute.resource("aws_lambda_function", "this")
    if lambda_function["environment"][0]["variables"] != "${local.environment_variables[each.key]}":
        problems.append("aws_lambda_function.this does not take its variables from local.environment_variables")
    if set(compute.locals["functions"].body) != set(FUNCTIONS):
        problems.append("local.functions does not define exactly the api, preprocess and inference functions")
    constants = rust_str_constants(config_rs.read_text())
    for local_name, constant in (("model_dir", "DEFAULT_MODEL_DIR"), ("ort_library", "DEFAULT_ORT_LIBRARY")):
        if literal(compute.locals[local_name].body) != constants.get(constant):
            problems.append(f"local.{local_name} differs from {constant} in config.rs")
    return problems


def check_iam(terraform: Path, permissions_json: Path = PERMISSIONS) -> list[str]:
    problems = []
    compute = load(terraform, "compute")
    permissions = json.loads(permissions_json.read_text())
    for function in FUNCTIONS:
        document = compute.data_source("aws_iam_policy_document", function)
        if document.get("source_policy_documents") != [f"${{data.aws_iam_policy_document.baseline[\"{function}\"].json}}"]:
            problems.append(f"{function}: the policy does not start from the baseline document")
        actual: set[tuple[str, str]] = set()
        for statement in statements(document):
            if literal(statement.get("effect", '"Allow"')) != "Allow":
                problems.append(f"{function}: statement {statement.get('sid')} is not an Allow")
            actual |= statement_pairs(statement, compute)
        expected = permission_pairs(permissions, function)
        for action, kind in sorted(expected - actual):
            problems.append(f"{function}: {action} on {kind} is in permissions.json but not granted")
        for action, kind in sorted(actual - expected):
            problems.append(f"{function}: {action} on {kind} is granted but not in permissions.json")
        policy = compute.locals["policies"].body.get(function)
        if policy != f"${{data.aws_iam_policy_document.{function}.json}}":
            problems.append(f"{function}: local.policies does not attach data.aws_iam_policy_document.{function}")

    # The bucket key through S3, only as far as each function's object grants need it: Decrypt to read,
    # GenerateDataKey to write; none for a function without S3 object access (inference).
    kms_actions = compute.locals["kms_actions"].body
    for function in FUNCTIONS:
        s3_actions = {action for action, _ in permission_pairs(permissions, function) if action.startswith("s3:")}
        needed = {"kms:Decrypt"} if s3_actions & {"s3:GetObject", "s3:GetObjectVersion"} else set()
        if "s3:PutObject" in s3_actions:
            needed.add("kms:GenerateDataKey")
        granted = set(literal(kms_actions.get(function, [])))
        if granted != needed:
            problems.append(f"{function}: KMS through S3 is {sorted(granted)}, its S3 grants need {sorted(needed)}")

    # The baseline: own log group, X-Ray, and KMS only when a key is configured.
    baseline = compute.data_source("aws_iam_policy_document", "baseline")
    static = baseline.get("statement", [])
    by_sid = {literal(s.get("sid")): s for s in static}
    logs = by_sid.get("WriteOwnLogs", {})
    if set(literal(logs.get("actions", []))) != {"logs:CreateLogStream", "logs:PutLogEvents"} or logs.get(
        "resources"
    ) != ['"${aws_cloudwatch_log_group.this[each.key].arn}:*"']:
        problems.append("baseline: logs must be CreateLogStream/PutLogEvents on the function's own log group only")
    xray = by_sid.get("WriteTraces", {})
    if set(literal(xray.get("actions", []))) != {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}:
        problems.append("baseline: X-Ray statement must be PutTraceSegments/PutTelemetryRecords only")
    if set(by_sid) != {"WriteOwnLogs", "WriteTraces"}:
        problems.append(f"baseline: unexpected static statements {sorted(set(by_sid) - {'WriteOwnLogs', 'WriteTraces'})}")
    dynamic = [d["statement"] for d in baseline.get("dynamic", []) if "statement" in d]
    allowed_kms = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}
    if len(dynamic) != 2:
        problems.append("baseline: expected the two KMS statements (through S3, through DynamoDB)")
    for block in dynamic:
        content = block["content"][0]
        if "var.kms_key_arn == null ? []" not in block.get("for_each", ""):
            problems.append(f"baseline: {content.get('sid')} must exist only when var.kms_key_arn is set")
        # A statement with no actions is not a valid policy: leave it out where kms_actions is empty.
        if "local.kms_actions" in str(content.get("actions")) and "length(local.kms_actions[each.key]) == 0 ? []" not in block.get("for_each", ""):
            problems.append(f"baseline: {literal(content.get('sid'))} must be left out for a function without KMS actions")
        actions = set(_policy_actions(content, compute))
        services = {c.get("variable"): c.get("values") for c in content.get("condition", [])}
        if not actions or not actions <= allowed_kms or '"kms:ViaService"' not in services:
            problems.append(f"baseline: {content.get('sid')} must grant only {sorted(allowed_kms)} through kms:ViaService")
    return problems


def _policy_actions(statement: dict, module: tfparse.Module) -> list[str]:
    actions = statement.get("actions", [])
    if isinstance(actions, list):
        return [literal(a) for a in actions]
    local = re.fullmatch(r"\$\{local\.([A-Za-z_]\w*).*\}", actions)
    assert local, f"actions expression not understood: {actions}"
    return [text(s) for s in tfparse.strings(module.locals[local.group(1)].body)]


def check_no_wildcards(terraform: Path) -> list[str]:
    """No action with '*' in any policy document, except the Deny-insecure-transport guards (`<service>:*`);
    no NotAction; Resource "*" only for X-Ray and in KMS key policies (where it means "this key")."""
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
                sid = literal(statement.get("sid")) if "sid" in statement else "?"
                if "not_actions" in statement or "not_resources" in statement:
                    problems.append(f"{where}/{sid}: NotAction/NotResource")
                effect = literal(statement.get("effect", '"Allow"'))
                conditions = {literal(c.get("variable")) for c in statement.get("condition", [])}
                for action in _policy_actions(statement, module):
                    if "*" not in action:
                        continue
                    guard = effect == "Deny" and re.fullmatch(r"[a-z0-9]+:\*", action) and conditions & {
                        "aws:SecureTransport",
                        "s3:TlsVersion",
                    }
                    if not guard:
                        problems.append(f"{where}/{sid}: wildcard action {action}")
                resources = statement.get("resources", [])
                if effect == "Allow" and isinstance(resources, list) and '"*"' in resources:
                    actions = _policy_actions(statement, module)
                    if name not in key_policies and not all(a.startswith("xray:") for a in actions):
                        problems.append(f"{where}/{sid}: Resource \"*\" for {actions}")
    return problems


def check_pipeline(terraform: Path, pipeline_json: Path = PIPELINE) -> list[str]:
    problems = []
    pipeline = json.loads(pipeline_json.read_text())
    root, compute, queues = load(terraform), load(terraform, "compute"), load(terraform, "queues")

    def expect(module: tfparse.Module, variable: str, value) -> None:
        where = module.path.name if module is not root else "root"
        if variable not in module.variables:
            problems.append(f"{where}: no variable {variable}")
        elif module.variable_default(variable) != value:
            problems.append(f"{where}: {variable} defaults to {module.variable_default(variable)}, pipeline.json says {value}")

    expect(root, "project", pipeline["project"])
    settings = {"timeout": "timeout", "memory": "memory_size", "batch_size": "batch_size",
                "batching_window": "batching_window", "max_concurrency": "max_concurrency"}
    for function, values in pipeline["functions"].items():
        for key, value in values.items():
            for module in (root, compute):
                expect(module, f"{function}_{settings[key]}", value)
    for queue, values in pipeline["queues"].items():
        for module in (root, compute, queues):
            expect(module, f"{queue}_max_receive_count", values["max_receive_count"])
        for module in (root, queues):
            expect(module, f"{queue}_dlq_message_retention_seconds", values["dlq_retention"])
        # Both the queue and the function that counts deliveries get the same root variable.
        for call in ("queues", "compute"):
            if root.modules[call].body.get(f"{queue}_max_receive_count") != f"${{var.{queue}_max_receive_count}}":
                problems.append(f"root: module.{call} does not get {queue}_max_receive_count from var.{queue}_max_receive_count")

    api = load(terraform, "api")
    cors = tfparse.blocks(api.resource("aws_apigatewayv2_api", "this"), "cors_configuration")
    if len(cors) != 1:
        problems.append(f"api: {len(cors)} cors_configuration blocks, expected 1")
    else:
        for key in ("allow_methods", "allow_headers", "expose_headers"):
            if literal(cors[0].get(key)) != pipeline["cors"][key]:
                problems.append(f"api: cors {key} is {literal(cors[0].get(key))}, pipeline.json says {pipeline['cors'][key]}")
        # Origins come from a variable whose validation refuses "*".
        if literal(cors[0].get("allow_credentials")) is not False:
            problems.append("api: cors must not allow credentials")
    expect(api, "cors_max_age_seconds", pipeline["cors"]["max_age"])

    for queue in CONSUMERS:
        timeout = pipeline["functions"][queue]["timeout"]
        module_default = queues.variable_default(f"{queue}_visibility_timeout_seconds")
        if module_default < 6 * timeout:
            problems.append(f"queues: {queue}_visibility_timeout_seconds defaults to {module_default} < 6 x {timeout}")
        computed = evaluate_arithmetic(root.locals["visibility_timeout_seconds"].body[queue], root)
        if computed < 6 * root.variable_default(f"{queue}_timeout"):
            problems.append(f"root: visibility timeout of {queue} is {computed} < 6 x its timeout")
        passed = root.modules["queues"].body.get(f"{queue}_visibility_timeout_seconds")
        if passed != f"${{local.visibility_timeout_seconds.{queue}}}":
            problems.append(f"root: module.queues {queue}_visibility_timeout_seconds is {passed}, not the computed local")
        for module in (root, compute):
            reserved = module.variable_default(f"{queue}_reserved_concurrency")
            maximum = module.variable_default(f"{queue}_max_concurrency")
            if maximum < 2 or (reserved != -1 and maximum > reserved):
                problems.append(f"{module.path.name}: {queue} max_concurrency {maximum} not within 2..reserved {reserved}")
    return problems


def check_prefixes(terraform: Path, keys_rs: Path = KEYS_RS) -> list[str]:
    problems = []
    expected = key_prefixes(keys_rs)
    root, storage, compute = load(terraform), load(terraform, "storage"), load(terraform, "compute")
    if literal(root.locals["object_prefixes"].body) != expected:
        problems.append(f"root: local.object_prefixes {literal(root.locals['object_prefixes'].body)} != keys.rs {expected}")
    for module in (storage, compute):
        if module.variable_default("object_prefixes") != expected:
            problems.append(f"{module.path.name}: object_prefixes default != keys.rs {expected}")
    for call in ("storage", "compute"):
        if root.modules[call].body.get("object_prefixes") != "${local.object_prefixes}":
            problems.append(f"root: module.{call} does not get local.object_prefixes")

    notifications = [
        (m.path.name, d.body)
        for m in tfparse.load_tree(terraform).values()
        for (t, _), d in m.resources.items()
        if t == "aws_s3_bucket_notification"
    ]
    if len(notifications) != 1:
        problems.append(f"{len(notifications)} aws_s3_bucket_notification resources; S3 keeps one per bucket")
    queue_blocks = storage.resource("aws_s3_bucket_notification", "this").get("queue", [])
    if len(queue_blocks) != 1:
        problems.append("storage: the notification must have exactly one queue target")
    else:
        queue = queue_blocks[0]
        if literal(queue.get("events")) != ["s3:ObjectCreated:*"]:
            problems.append(f"storage: notification events are {queue.get('events')}")
        if substitute_defaults(str(queue.get("filter_prefix")), storage) != expected["uploads"]:
            problems.append(f"storage: notification filter_prefix {queue.get('filter_prefix')} is not the uploads prefix")
    # Lifecycle rules act only on prefixes the code writes (a rule on any other prefix is left over from an
    # older layout), and uploads expire with their record.
    lifecycle = storage.resource("aws_s3_bucket_lifecycle_configuration", "this")
    prefixes = {
        substitute_defaults(text(f.get("prefix")), storage)
        for rule in tfparse.blocks(lifecycle, "rule")
        for f in rule.get("filter", [])
        if "prefix" in f
    }
    # The dynamic rule's filter is `rule.value`: one of local.expiring_prefixes, checked below.
    for prefix in sorted(prefixes - {"${rule.value}"} - set(expected.values())):
        problems.append(f"storage: a lifecycle rule filters on {prefix}, not a prefix of keys.rs")
    expiring = re.findall(r"(\w+)\s*=\s*var\.object_prefixes\.(\w+)", str(storage.locals["expiring_prefixes"].body))
    if expiring != [("uploads", "uploads")]:
        problems.append(f"storage: local.expiring_prefixes expires {expiring}, expected the uploads prefix only")
    return problems


def check_message_size(terraform: Path, messages_rs: Path = MESSAGES_RS) -> list[str]:
    """The inference messages carry the pixels: their queue, and the DLQ they move to, must take messages as
    large as the code assumes SQS allows."""
    problems = []
    limit = rust_usize_constants(messages_rs.read_text()).get("MAX_SQS_MESSAGE_BYTES")
    if limit is None:
        return [f"{messages_rs.name}: no MAX_SQS_MESSAGE_BYTES"]
    queues = load(terraform, "queues")
    settings = queues.locals["queues"].body
    size = settings.get("inference", {}).get("max_message_size")
    if size != limit:
        problems.append(f"queues: the inference max_message_size is {size}, MAX_SQS_MESSAGE_BYTES is {limit}")
    for name in ("this", "dlq"):
        if queues.resource("aws_sqs_queue", name).get("max_message_size") != "${each.value.max_message_size}":
            problems.append(f"queues: aws_sqs_queue.{name} does not take max_message_size from local.queues")
    return problems


def check_table(terraform: Path, store_rs: Path = STORE_RS) -> list[str]:
    problems = []
    source = store_rs.read_text()
    table = load(terraform, "storage").resource("aws_dynamodb_table", "this")
    storage = load(terraform, "storage")
    attributes = {literal(a["name"]): literal(a["type"]) for a in table.get("attribute", [])}
    want_attributes = {"image_id": "S", "status_shard": "S", "owner": "S", "created_at": "N"}
    if attributes != want_attributes:
        problems.append(f"table attributes {attributes} != {want_attributes}")
    if literal(table.get("hash_key")) != "image_id" or "range_key" in table:
        problems.append("table key must be image_id alone")
    index_names = {
        "${local.status_index_name}": literal(storage.locals["status_index_name"].body),
        "${local.owner_index_name}": literal(storage.locals["owner_index_name"].body),
    }
    indexes = {
        index_names.get(i["name"], str(i["name"])): (literal(i["hash_key"]), literal(i["range_key"]))
        for i in table.get("global_secondary_index", [])
    }
    status_index = rust_str_constants(source).get("STATUS_INDEX")
    want_indexes = {status_index: ("status_shard", "created_at"), "owner-created_at": ("owner", "created_at")}
    if indexes != want_indexes:
        problems.append(f"indexes {indexes} != {want_indexes}")
    ttl = table.get("ttl", [{}])[0]
    if literal(ttl.get("attribute_name")) != "expires_at" or ttl.get("enabled") is not True:
        problems.append("TTL must be enabled on expires_at")
    for attribute in ("image_id", "status_shard", "created_at", "expires_at", "owner"):
        if f'"{attribute}"' not in source:
            problems.append(f"store.rs does not write the attribute {attribute}")
    return problems


################################################################################
# Tests on the real tree
################################################################################

TF_FILES = sorted(p for p in TERRAFORM.rglob("*.tf") if ".terraform" not in p.parts)


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_every_file_parses(path: Path):
    assert isinstance(tfparse.load_file(path), dict)


def test_there_is_terraform_to_check():
    assert len(TF_FILES) >= 25


@pytest.mark.parametrize("module", MODULES)
def test_module_layout(module: str):
    directory = TERRAFORM / "modules" / module
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (directory / name).is_file(), f"{module}/{name} is missing"
    parsed = tfparse.load_module(directory)
    assert not parsed.providers, f"{module} configures a provider"
    versions = tfparse.load_file(directory / "versions.tf")
    assert set(versions) == {"terraform"}, "versions.tf holds only the terraform block"
    block = versions["terraform"][0]
    assert text(block["required_version"]) == ">= 1.6"
    aws = block["required_providers"][0]["aws"]
    assert text(aws["source"]) == "hashicorp/aws"
    assert text(aws["version"]) == ">= 5.80, < 6.0"


def test_only_environments_configure_providers():
    with_provider = [m.path for m in tfparse.load_tree(TERRAFORM).values() if m.providers]
    assert with_provider == [TERRAFORM / "envs" / "dev"]


def test_references_resolve():
    problems, stats = tf_refs.check(TERRAFORM)
    assert problems == []
    assert stats["modules"] == 7 and stats["references"] > 500


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


def test_environment_matches_config():
    assert check_environment(TERRAFORM) == []


def test_config_parser_reads_the_code():
    variables = config_variables(CONFIG_RS)
    assert "IMGPIPE_INFERENCE_QUEUE_URL" in variables["preprocess"]
    assert "IMGPIPE_ORT_LIBRARY" in variables["inference"]
    assert all(name.startswith("IMGPIPE_") for names in variables.values() for name in names)


def test_iam_matches_permissions():
    assert check_iam(TERRAFORM) == []


def test_no_wildcard_actions():
    assert check_no_wildcards(TERRAFORM) == []


def test_defaults_match_pipeline_json():
    assert check_pipeline(TERRAFORM) == []


def test_prefixes_match_keys_rs():
    assert check_prefixes(TERRAFORM) == []


def test_table_matches_store_rs():
    assert check_table(TERRAFORM) == []


def test_message_size_matches_messages_rs():
    assert check_message_size(TERRAFORM) == []
    assert rust_usize_constants(MESSAGES_RS.read_text())["MAX_SQS_MESSAGE_BYTES"] == 262144


def test_inference_stays_x86_64():
    compute = load(TERRAFORM, "compute")
    validation = compute.variables["inference_architecture"].body["validation"][0]
    assert validation["condition"] == '${var.inference_architecture == "x86_64"}'
    layer = compute.resource("aws_lambda_layer_version", "onnxruntime")
    assert literal(layer["compatible_architectures"]) == ["x86_64"]
    assert "inference_architecture" not in load(TERRAFORM).variables, "the root must not offer arm64 inference"


def test_layers_attach_where_needed():
    functions = load(TERRAFORM, "compute").locals["functions"].body
    assert functions["api"]["layers"] == []
    assert functions["preprocess"]["layers"] == ["${aws_lambda_layer_version.model.arn}"]
    assert functions["inference"]["layers"] == [
        "${aws_lambda_layer_version.onnxruntime.arn}",
        "${aws_lambda_layer_version.model.arn}",
    ]


def test_event_source_mappings_report_batch_item_failures():
    mapping = load(TERRAFORM, "compute").resource("aws_lambda_event_source_mapping", "this")
    assert literal(mapping["function_response_types"]) == ["ReportBatchItemFailures"]
    assert mapping["scaling_config"][0]["maximum_concurrency"] == "${each.value.max_concurrency}"
    assert len(mapping["lifecycle"][0]["precondition"]) == 2


def test_dev_environment_defaults_to_the_build_outputs():
    dev = tfparse.load_module(TERRAFORM / "envs" / "dev")
    call = dev.modules["imgpipe"].body
    expected = {
        "api_package": "lambda/x86_64/api/bootstrap.zip",
        "preprocess_package": "lambda/x86_64/preprocess/bootstrap.zip",
        "inference_package": "lambda/x86_64/inference/bootstrap.zip",
        "onnxruntime_layer_package": "layers/onnxruntime-x86_64.zip",
        "model_layer_package": "layers/model-fp32.zip",
    }
    for argument, path in expected.items():
        assert text(call[argument]) == "${local.build_dir}/" + path
    assert text(dev.locals["build_dir"].body) == '${coalesce(var.build_dir, "${path.root}/../../../build")}'
    assert (TERRAFORM / "envs" / "dev" / "../../../services").resolve() == REPO / "services"


################################################################################
# Negative tests: each check notices a drift in a mutated copy
################################################################################


@pytest.fixture
def tf_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    return copy


def mutate(path: Path, old: str, new: str) -> None:
    source = path.read_text()
    assert old in source, f"{old!r} not in {path}"
    path.write_text(source.replace(old, new, 1))


def test_refs_fail_on_a_missing_variable(tf_copy: Path):
    variables = tf_copy / "modules" / "compute" / "variables.tf"
    source = variables.read_text()
    block = re.search(r'variable "top_k" \{.*?\n\}\n', source, re.S).group(0)
    variables.write_text(source.replace(block, ""))
    problems, _ = tf_refs.check(tf_copy)
    assert "modules/compute/main.tf: local.environment_variables: var.top_k is not declared" in problems
    assert "./main.tf: module.compute: argument top_k is not a variable of compute" in problems


def test_refs_fail_on_a_missing_required_argument_and_a_wrong_output(tf_copy: Path):
    mutate(tf_copy / "main.tf", "  bucket_arn  = module.storage.bucket_arn\n", "")
    mutate(tf_copy / "main.tf", "module.storage.table_arn\n", "module.storage.table_ar\n")
    problems, _ = tf_refs.check(tf_copy)
    assert "./main.tf: module.queues: required argument bucket_arn (no default in queues) is missing" in problems
    assert "./main.tf: module.compute: module.storage.table_ar is not an output of storage" in problems


def test_refs_fail_on_a_cross_variable_validation(tf_copy: Path):
    mutate(
        tf_copy / "modules" / "compute" / "variables.tf",
        "condition     = var.inference_max_concurrency >= 2",
        "condition     = var.inference_max_concurrency >= var.inference_batch_size",
    )
    problems, _ = tf_refs.check(tf_copy)
    assert any("validation refers to var.inference_batch_size" in p for p in problems), problems


def test_environment_check_fails_on_a_renamed_variable(tf_copy: Path):
    mutate(tf_copy / "modules" / "compute" / "main.tf", "IMGPIPE_MAX_PIXELS ", "IMGPIPE_MAX_PIXEL ")
    assert check_environment(tf_copy) == [
        "preprocess: IMGPIPE_MAX_PIXELS is read by the code but not set by Terraform",
        "preprocess: IMGPIPE_MAX_PIXEL is set by Terraform but not read by the code",
    ]


def test_environment_check_follows_the_code(tmp_path: Path, tf_copy: Path):
    config = tmp_path / "config.rs"
    config.write_text(CONFIG_RS.read_text().replace('"IMGPIPE_TOP_K"', '"IMGPIPE_TOP_N"'))
    assert check_environment(tf_copy, config) == [
        "inference: IMGPIPE_TOP_N is read by the code but not set by Terraform",
        "inference: IMGPIPE_TOP_K is set by Terraform but not read by the code",
    ]


def test_iam_check_fails_on_a_missing_action(tf_copy: Path):
    mutate(
        tf_copy / "modules" / "compute" / "main.tf",
        '["s3:GetObject", "s3:GetObjectVersion"]',
        '["s3:GetObject"]',
    )
    assert check_iam(tf_copy) == [
        "preprocess: s3:GetObjectVersion on bucket_prefix:uploads/ is in permissions.json but not granted"
    ]


def test_iam_check_fails_on_an_extra_action(tf_copy: Path):
    mutate(
        tf_copy / "modules" / "compute" / "main.tf",
        'actions   = ["s3:PutObject"]\n    resources = ["${var.bucket_arn}/${var.object_prefixes.uploads}*"]',
        'actions   = ["s3:PutObject", "s3:DeleteObject"]\n    resources = ["${var.bucket_arn}/${var.object_prefixes.uploads}*"]',
    )
    assert check_iam(tf_copy) == [
        "api: s3:DeleteObject on bucket_prefix:uploads/ is granted but not in permissions.json"
    ]


def test_iam_check_fails_on_a_wrong_prefix(tf_copy: Path):
    mutate(
        tf_copy / "modules" / "compute" / "main.tf",
        'sid       = "ReadUploads"\n    actions   = ["s3:GetObject", "s3:GetObjectVersion"]\n    resources = ["${var.bucket_arn}/${var.object_prefixes.uploads}*"]',
        'sid       = "ReadUploads"\n    actions   = ["s3:GetObject", "s3:GetObjectVersion"]\n    resources = ["${var.bucket_arn}/results/*"]',
    )
    assert check_iam(tf_copy) == [
        "preprocess: s3:GetObject on bucket_prefix:uploads/ is in permissions.json but not granted",
        "preprocess: s3:GetObjectVersion on bucket_prefix:uploads/ is in permissions.json but not granted",
        "preprocess: s3:GetObject on bucket_prefix:results/ is granted but not in permissions.json",
        "preprocess: s3:GetObjectVersion on bucket_prefix:results/ is granted but not in permissions.json",
    ]


def test_iam_check_fails_on_an_s3_grant_to_inference(tf_copy: Path):
    # Inference takes its pixels from the message: an object grant left behind is an extra permission.
    mutate(
        tf_copy / "modules" / "compute" / "main.tf",
        '  # No S3 statement: the pixels arrive inside the messages this function consumes.\n',
        '  statement {\n    sid       = "ReadPixels"\n    actions   = ["s3:GetObject"]\n'
        '    resources = ["${var.bucket_arn}/${var.object_prefixes.uploads}*"]\n  }\n\n',
    )
    assert check_iam(tf_copy) == [
        "inference: s3:GetObject on bucket_prefix:uploads/ is granted but not in permissions.json"
    ]


def test_iam_check_fails_on_key_use_without_s3_access(tf_copy: Path):
    mutate(
        tf_copy / "modules" / "compute" / "main.tf",
        "    inference  = []\n",
        '    inference  = ["kms:Decrypt"]\n',
    )
    assert check_iam(tf_copy) == ["inference: KMS through S3 is ['kms:Decrypt'], its S3 grants need []"]


def test_iam_check_fails_on_an_empty_kms_statement(tf_copy: Path):
    mutate(
        tf_copy / "modules" / "compute" / "main.tf",
        "for_each = var.kms_key_arn == null ? [] : length(local.kms_actions[each.key]) == 0 ? [] : [var.kms_key_arn]",
        "for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]",
    )
    assert check_iam(tf_copy) == ["baseline: UseKeyThroughS3 must be left out for a function without KMS actions"]


def test_iam_check_follows_permissions_json(tmp_path: Path):
    permissions = json.loads(PERMISSIONS.read_text())
    permissions["api"].append({"actions": ["dynamodb:BatchWriteItem"], "resource": "table"})
    changed = tmp_path / "permissions.json"
    changed.write_text(json.dumps(permissions))
    assert check_iam(TERRAFORM, changed) == [
        "api: dynamodb:BatchWriteItem on table is in permissions.json but not granted"
    ]


def test_iam_check_fails_on_an_unscoped_bucket_listing(tf_copy: Path):
    main_tf = tf_copy / "modules" / "compute" / "main.tf"
    text_before = main_tf.read_text()
    start = text_before.index("    condition {\n      test     = \"StringLike\"\n      variable = \"s3:prefix\"")
    end = text_before.index("\n    }\n", start) + len("\n    }\n")
    main_tf.write_text(text_before[:start] + text_before[end:])
    problems = check_iam(tf_copy)
    assert "api: s3:ListBucketVersions on bucket is granted but not in permissions.json" in problems, problems
    assert "api: s3:ListBucketVersions on bucket_list:uploads/ is in permissions.json but not granted" in problems


def test_wildcard_check_fails_on_a_wildcard_action(tf_copy: Path):
    mutate(tf_copy / "modules" / "compute" / "main.tf", '["s3:GetObject", "s3:GetObjectVersion"]', '["s3:Get*"]')
    assert check_no_wildcards(tf_copy) == ["terraform/modules/compute: preprocess/ReadUploads: wildcard action s3:Get*"]


def test_pipeline_check_fails_on_a_drifted_default_and_a_short_visibility(tf_copy: Path):
    mutate(tf_copy / "modules" / "compute" / "variables.tf", "default     = 2048", "default     = 3008")
    mutate(tf_copy / "main.tf", "6 * var.inference_timeout", "5 * var.inference_timeout")
    assert check_pipeline(tf_copy) == [
        "compute: inference_memory_size defaults to 3008, pipeline.json says 2048",
        "root: visibility timeout of inference is 301 < 6 x its timeout",
    ]


def test_prefix_check_fails_on_a_changed_prefix(tf_copy: Path):
    mutate(tf_copy / "main.tf", 'uploads = "uploads/"', 'uploads = "incoming/"')
    problems = check_prefixes(tf_copy)
    assert len(problems) == 1 and problems[0].startswith("root: local.object_prefixes"), problems


def test_prefix_check_fails_on_a_lifecycle_rule_for_a_prefix_the_code_does_not_write(tf_copy: Path):
    # A rule left behind from an older key layout (the pixels used to be stored under preprocessed/).
    mutate(
        tf_copy / "modules" / "storage" / "main.tf",
        "  dynamic \"rule\" {\n",
        '  rule {\n    id     = "expire-preprocessed"\n    status = "Enabled"\n\n'
        '    filter {\n      prefix = "preprocessed/"\n    }\n\n'
        "    expiration {\n      days = 1\n    }\n  }\n\n"
        "  dynamic \"rule\" {\n",
    )
    assert check_prefixes(tf_copy) == ["storage: a lifecycle rule filters on preprocessed/, not a prefix of keys.rs"]


def test_prefix_check_fails_when_uploads_no_longer_expire(tf_copy: Path):
    mutate(
        tf_copy / "modules" / "storage" / "main.tf",
        "    uploads = var.object_prefixes.uploads\n",
        "",
    )
    assert check_prefixes(tf_copy) == [
        "storage: local.expiring_prefixes expires [], expected the uploads prefix only"
    ]


def test_message_size_check_fails_on_a_different_size(tf_copy: Path):
    mutate(tf_copy / "modules" / "queues" / "main.tf", "max_message_size = 262144", "max_message_size = 1048576")
    assert check_message_size(tf_copy) == [
        "queues: the inference max_message_size is 1048576, MAX_SQS_MESSAGE_BYTES is 262144"
    ]


def test_message_size_check_fails_on_a_dlq_left_at_the_default(tf_copy: Path):
    # The DLQ receives the inference messages as they are: it must take them as large.
    mutate(
        tf_copy / "modules" / "queues" / "main.tf",
        "  max_message_size          = each.value.max_message_size\n",
        "",
    )
    assert check_message_size(tf_copy) == ["queues: aws_sqs_queue.dlq does not take max_message_size from local.queues"]


def test_message_size_check_follows_the_code(tmp_path: Path):
    messages = tmp_path / "messages.rs"
    messages.write_text(MESSAGES_RS.read_text().replace("= 262_144;", "= 1_048_576;"))
    assert check_message_size(TERRAFORM, messages) == [
        "queues: the inference max_message_size is 262144, MAX_SQS_MESSAGE_BYTES is 1048576"
    ]
