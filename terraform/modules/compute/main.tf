locals {
  # The hash Lambda compares to decide whether the code changed. Guarded so that a missing zip fails on the
  # precondition below (which names the file) rather than inside filebase64sha256.
  source_code_hash = fileexists(var.filename) ? filebase64sha256(var.filename) : null
}

################################################################################
# Log group and role
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days) sized for operational logs; keeping every request log for a year is a cost the environment opts into (envs/prod sets 365).
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data at rest by default; a customer managed key is used when var.log_kms_key_arn is set (its key policy must allow logs.<region>.amazonaws.com).
  name              = "/aws/lambda/${var.function_name}"
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
  name                 = var.function_name
  description          = "Execution role of the ${var.function_name} function"
  assume_role_policy   = data.aws_iam_policy_document.assume_role.json
  permissions_boundary = var.role_permissions_boundary_arn

  tags = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid     = "WriteOwnLogs"
    actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
    # The log group is created here, so the function needs no logs:CreateLogGroup.
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  statement {
    sid     = "WriteTraces"
    actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    # X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level permissions: "*" is the
    # only resource they accept (see the Service Authorization Reference for AWS X-Ray).
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = var.policy_statements

    content {
      sid       = statement.value.sid
      effect    = "Allow"
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = statement.value.conditions

        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = var.function_name
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

################################################################################
# Function
################################################################################

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:The functions call only AWS APIs (S3, SQS, DynamoDB, EventBridge, Secrets Manager) with IAM auth and webhook receivers on the internet; a VPC would add NAT or endpoint cost and cold-start latency for no isolation gain.
  #checkov:skip=CKV_AWS_116:Failures are handled by SQS, not by a Lambda DLQ: the consumers are invoked by event source mappings whose queues redrive to DLQs, the API synchronously, the scheduled sweep again five minutes later.
  #checkov:skip=CKV_AWS_173:The environment holds only resource names, ARNs and numeric limits, no secrets (the webhook key stays in Secrets Manager); Lambda encrypts it at rest with its service key.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile the project does not have; the zips are built reproducibly, listed with their SHA-256 in manifest.json, and pinned through source_code_hash.
  function_name                  = var.function_name
  description                    = var.description
  role                           = aws_iam_role.this.arn
  filename                       = var.filename
  source_code_hash               = local.source_code_hash
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.architecture]
  timeout                        = var.timeout
  memory_size                    = var.memory_size
  reserved_concurrent_executions = var.reserved_concurrency
  layers                         = var.layers

  environment {
    variables = var.environment_variables
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.this.name
    application_log_level = var.log_level
    system_log_level      = var.system_log_level
  }

  tracing_config {
    mode = var.tracing_mode
  }

  tags = var.tags

  # The role's policy must exist before the first invocation can write logs or poll a queue.
  depends_on = [aws_iam_role_policy.this]

  lifecycle {
    precondition {
      condition     = fileexists(var.filename)
      error_message = "The package of ${var.function_name} is missing: ${var.filename}. Build it (make package writes build/artifacts and its manifest.json) or point artifacts_dir at the directory that holds it."
    }

    precondition {
      # Lambda refuses an environment over 4 KB (names and values together).
      condition     = length(jsonencode(var.environment_variables)) <= 4096
      error_message = "The environment of ${var.function_name} is ${length(jsonencode(var.environment_variables))} bytes as JSON; Lambda allows 4 KB. Deploy fewer models or shorter names."
    }
  }
}

################################################################################
# SQS triggers
################################################################################

resource "aws_lambda_event_source_mapping" "this" {
  for_each = var.event_source_mappings

  event_source_arn                   = each.value.queue_arn
  function_name                      = aws_lambda_function.this.arn
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
      condition     = var.reserved_concurrency == -1 || each.value.max_concurrency <= var.reserved_concurrency
      error_message = "The ${each.key} mapping of ${var.function_name} may start ${each.value.max_concurrency} invocations, more than the function's reserved concurrency (${var.reserved_concurrency})."
    }
  }
}

################################################################################
# Schedule (a rule on the default bus)
################################################################################

resource "aws_cloudwatch_event_rule" "schedule" {
  count = var.schedule == null ? 0 : 1

  name                = "${var.function_name}-schedule"
  description         = "Invokes ${var.function_name} ${var.schedule.expression}"
  schedule_expression = var.schedule.expression

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "schedule" {
  count = var.schedule == null ? 0 : 1

  rule  = aws_cloudwatch_event_rule.schedule[0].name
  arn   = aws_lambda_function.this.arn
  input = var.schedule.input
}

resource "aws_lambda_permission" "schedule" {
  count = var.schedule == null ? 0 : 1

  statement_id  = "AllowInvokeFromSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule[0].arn
}
