data "aws_region" "current" {}

locals {
  # Where the layers put their files (the defaults in services/core/src/config.rs): the model layer zip holds
  # model/{model.onnx,labels.txt,model.json} and the ONNX Runtime layer zip lib/libonnxruntime.so.1, and
  # Lambda extracts layers under /opt.
  model_dir   = "/opt/model"
  ort_library = "/opt/lib/libonnxruntime.so.1"

  # Exactly the variables each function reads (ApiConfig/PreprocessConfig/InferenceConfig::VARIABLES in
  # services/core/src/config.rs); tools/checks/test_terraform.py keeps the two in step.
  environment_variables = {
    api = {
      IMGPIPE_TABLE_NAME           = var.table_name
      IMGPIPE_BUCKET_NAME          = var.bucket_name
      IMGPIPE_PRESIGN_EXPIRES_SECS = tostring(var.presign_expires_seconds)
      IMGPIPE_MAX_INLINE_BYTES     = tostring(var.max_inline_bytes)
      IMGPIPE_MAX_UPLOAD_BYTES     = tostring(var.max_upload_bytes)
      IMGPIPE_RETENTION_DAYS       = tostring(var.retention_days)
    }
    preprocess = {
      IMGPIPE_TABLE_NAME          = var.table_name
      IMGPIPE_BUCKET_NAME         = var.bucket_name
      IMGPIPE_INFERENCE_QUEUE_URL = var.inference_queue_url
      IMGPIPE_MODEL_DIR           = local.model_dir
      IMGPIPE_MAX_UPLOAD_BYTES    = tostring(var.max_upload_bytes)
      IMGPIPE_MAX_PIXELS          = tostring(var.max_pixels)
      IMGPIPE_MAX_RECEIVE_COUNT   = tostring(var.preprocess_max_receive_count)
    }
    inference = {
      IMGPIPE_TABLE_NAME        = var.table_name
      IMGPIPE_MODEL_DIR         = local.model_dir
      IMGPIPE_ORT_LIBRARY       = local.ort_library
      IMGPIPE_ORT_THREADS       = tostring(var.ort_threads)
      IMGPIPE_TOP_K             = tostring(var.top_k)
      IMGPIPE_MAX_RECEIVE_COUNT = tostring(var.inference_max_receive_count)
    }
  }

  functions = {
    api = {
      description          = "imgpipe HTTP API: creates image jobs and returns their status and predictions"
      package              = var.api_package
      architecture         = var.api_architecture
      timeout              = var.api_timeout
      memory_size          = var.api_memory_size
      reserved_concurrency = var.api_reserved_concurrency
      layers               = []
    }
    preprocess = {
      description          = "imgpipe preprocess: decodes an upload and sends its model-ready pixels to inference"
      package              = var.preprocess_package
      architecture         = var.preprocess_architecture
      timeout              = var.preprocess_timeout
      memory_size          = var.preprocess_memory_size
      reserved_concurrency = var.preprocess_reserved_concurrency
      # model.json carries the resize rule.
      layers = [aws_lambda_layer_version.model.arn]
    }
    inference = {
      description          = "imgpipe inference: classifies the pixels of a batch of messages with ONNX Runtime"
      package              = var.inference_package
      architecture         = var.inference_architecture
      timeout              = var.inference_timeout
      memory_size          = var.inference_memory_size
      reserved_concurrency = var.inference_reserved_concurrency
      layers               = [aws_lambda_layer_version.onnxruntime.arn, aws_lambda_layer_version.model.arn]
    }
  }

  # The SQS consumers and the queue each one drains.
  consumers = {
    preprocess = {
      queue_arn       = var.preprocess_queue_arn
      batch_size      = var.preprocess_batch_size
      batching_window = var.preprocess_batching_window
      max_concurrency = var.preprocess_max_concurrency
    }
    inference = {
      queue_arn       = var.inference_queue_arn
      batch_size      = var.inference_batch_size
      batching_window = var.inference_batching_window
      max_concurrency = var.inference_max_concurrency
    }
  }

  # With a customer managed key on the bucket, SSE-KMS needs GenerateDataKey to write and Decrypt to read:
  # the api writes uploads, preprocess only reads them, and inference touches no object at all (its pixels
  # arrive in the message), so it gets no use of the key through S3.
  kms_actions = {
    api        = ["kms:GenerateDataKey"]
    preprocess = ["kms:Decrypt"]
    inference  = []
  }

  # On a table under a customer managed key, DynamoDB uses the caller's permissions on the key to unwrap the
  # table key; every function reads and writes items.
  table_kms_actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]

  policies = {
    api        = data.aws_iam_policy_document.api.json
    preprocess = data.aws_iam_policy_document.preprocess.json
    inference  = data.aws_iam_policy_document.inference.json
  }
}

################################################################################
# Layers
################################################################################

resource "aws_lambda_layer_version" "onnxruntime" {
  layer_name          = "${var.name_prefix}-onnxruntime"
  description         = "ONNX Runtime shared library (lib/libonnxruntime.so.1), x86_64"
  filename            = var.onnxruntime_layer_package
  source_code_hash    = filebase64sha256(var.onnxruntime_layer_package)
  compatible_runtimes = ["provided.al2023"]
  # The inference function is x86_64 only: arm64 ONNX Runtime aborts on Lambda, where
  # /sys/devices/system/cpu/possible is missing.
  compatible_architectures = ["x86_64"]
}

resource "aws_lambda_layer_version" "model" {
  layer_name               = "${var.name_prefix}-model"
  description              = "Classifier model (model/model.onnx, model/labels.txt, model/model.json)"
  filename                 = var.model_layer_package
  source_code_hash         = filebase64sha256(var.model_layer_package)
  compatible_runtimes      = ["provided.al2023"]
  compatible_architectures = ["x86_64", "arm64"]
}

################################################################################
# Log groups and roles
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days) sized for operational logs; keeping every request log for a year is a cost the environment opts into.
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data at rest by default; a customer managed key is used when var.log_kms_key_arn is set (its key policy must allow logs.<region>.amazonaws.com).
  for_each = local.functions

  name              = "/aws/lambda/${var.name_prefix}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn

  tags = var.tags
}

data "aws_iam_policy_document" "assume_role" {
  statement {
    sid     = "LambdaAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = local.functions

  name                 = "${var.name_prefix}-${each.key}"
  description          = "Execution role of the ${var.name_prefix}-${each.key} function"
  assume_role_policy   = data.aws_iam_policy_document.assume_role.json
  permissions_boundary = var.role_permissions_boundary_arn

  tags = var.tags
}

# Statements every function gets: its own log group, X-Ray, and the storage KMS key (only through S3 and
# DynamoDB) when there is one; through S3 only for the functions that touch objects, since a statement with
# no actions is not a valid policy.
data "aws_iam_policy_document" "baseline" {
  for_each = local.functions

  statement {
    sid     = "WriteOwnLogs"
    actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
    # The log group is created here, so the function needs no logs:CreateLogGroup.
    resources = ["${aws_cloudwatch_log_group.this[each.key].arn}:*"]
  }

  statement {
    sid     = "WriteTraces"
    actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    # X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level permissions: "*" is the
    # only resource they accept (see the Service Authorization Reference for AWS X-Ray).
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : length(local.kms_actions[each.key]) == 0 ? [] : [var.kms_key_arn]

    content {
      sid       = "UseKeyThroughS3"
      actions   = local.kms_actions[each.key]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${data.aws_region.current.name}.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      sid       = "UseKeyThroughDynamoDb"
      actions   = local.table_kms_actions
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["dynamodb.${data.aws_region.current.name}.amazonaws.com"]
      }
    }
  }
}

# The grants below mirror services/permissions.json, the list of the AWS calls each function's code makes;
# tools/checks/test_terraform.py fails when the two differ.

data "aws_iam_policy_document" "api" {
  source_policy_documents = [data.aws_iam_policy_document.baseline["api"].json]

  statement {
    # BatchGetItem: the indexes hold keys only, so a listing reads its page of items from the table.
    sid       = "ReadWriteImageRecords"
    actions   = ["dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [var.table_arn]
  }

  statement {
    sid       = "ListImageRecords"
    actions   = ["dynamodb:Query"]
    resources = var.table_index_arns
  }

  statement {
    # Direct uploads and the presigned PUT URLs handed to clients (signed with this role).
    sid       = "WriteUploads"
    actions   = ["s3:PutObject"]
    resources = ["${var.bucket_arn}/${var.object_prefixes.uploads}*"]
  }

  statement {
    # DELETE /images/{id} removes every stored version of the image's upload (by version id, so the
    # versioned bucket keeps nothing behind); the upload is the only object an image has.
    sid       = "DeleteImageObjectVersions"
    actions   = ["s3:DeleteObjectVersion"]
    resources = ["${var.bucket_arn}/${var.object_prefixes.uploads}*"]
  }

  statement {
    # ...which it finds by listing the versions of the image's exact key.
    sid       = "FindImageObjectVersions"
    actions   = ["s3:ListBucketVersions"]
    resources = [var.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.object_prefixes.uploads}*"]
    }
  }
}

data "aws_iam_policy_document" "preprocess" {
  source_policy_documents = [data.aws_iam_policy_document.baseline["preprocess"].json]

  statement {
    sid       = "ReadUpdateImageRecords"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [var.table_arn]
  }

  statement {
    sid       = "ReadUploads"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${var.bucket_arn}/${var.object_prefixes.uploads}*"]
  }

  statement {
    # The model-ready pixels go with the request, as a binary message attribute: no S3 write.
    sid       = "SendInferenceRequests"
    actions   = ["sqs:SendMessage"]
    resources = [var.inference_queue_arn]
  }

  statement {
    sid       = "ConsumePreprocessQueue"
    actions   = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
    resources = [var.preprocess_queue_arn]
  }
}

data "aws_iam_policy_document" "inference" {
  source_policy_documents = [data.aws_iam_policy_document.baseline["inference"].json]

  statement {
    sid       = "ReadUpdateImageRecords"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [var.table_arn]
  }

  # No S3 statement: the pixels arrive inside the messages this function consumes.
  statement {
    sid       = "ConsumeInferenceQueue"
    actions   = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
    resources = [var.inference_queue_arn]
  }
}

resource "aws_iam_role_policy" "this" {
  for_each = local.functions

  name   = "${var.name_prefix}-${each.key}"
  role   = aws_iam_role.this[each.key].id
  policy = local.policies[each.key]
}

################################################################################
# Functions
################################################################################

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:The functions call only AWS APIs (S3, SQS, DynamoDB) with IAM auth and reach no private resource; a VPC would add NAT or endpoint cost and cold-start latency for no isolation gain.
  #checkov:skip=CKV_AWS_116:Failures are handled by SQS, not by a Lambda DLQ: preprocess and inference are invoked by event source mappings whose queues redrive to DLQs, and the API is invoked synchronously.
  #checkov:skip=CKV_AWS_173:The environment holds only resource names and numeric limits, no secrets; Lambda encrypts it at rest with its service key.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile the project does not have; the zips are built reproducibly and their SHA-256 is pinned through source_code_hash.
  for_each = local.functions

  function_name                  = "${var.name_prefix}-${each.key}"
  description                    = each.value.description
  role                           = aws_iam_role.this[each.key].arn
  filename                       = each.value.package
  source_code_hash               = filebase64sha256(each.value.package)
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [each.value.architecture]
  timeout                        = each.value.timeout
  memory_size                    = each.value.memory_size
  reserved_concurrent_executions = each.value.reserved_concurrency
  layers                         = each.value.layers

  environment {
    variables = local.environment_variables[each.key]
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.this[each.key].name
    application_log_level = var.log_level
    system_log_level      = var.system_log_levels[each.key]
  }

  tracing_config {
    mode = "Active"
  }

  tags = var.tags

  # The role's policy must exist before the first invocation can write logs or poll a queue.
  depends_on = [aws_iam_role_policy.this]
}

################################################################################
# SQS triggers
################################################################################

resource "aws_lambda_event_source_mapping" "this" {
  for_each = local.consumers

  event_source_arn                   = each.value.queue_arn
  function_name                      = aws_lambda_function.this[each.key].arn
  batch_size                         = each.value.batch_size
  maximum_batching_window_in_seconds = each.value.batching_window
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = each.value.max_concurrency
  }

  tags = var.tags

  lifecycle {
    precondition {
      # More pollers than the function may run would only turn into throttles and extra receives.
      condition     = local.functions[each.key].reserved_concurrency == -1 || each.value.max_concurrency <= local.functions[each.key].reserved_concurrency
      error_message = "${each.key}_max_concurrency (${each.value.max_concurrency}) must not exceed ${each.key}_reserved_concurrency (${local.functions[each.key].reserved_concurrency})."
    }

    precondition {
      condition     = each.value.batch_size <= 10 || each.value.batching_window >= 1
      error_message = "SQS batch sizes above 10 need a batching window of at least 1 second (${each.key}_batching_window)."
    }
  }
}
