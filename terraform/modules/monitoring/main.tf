data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  region         = data.aws_region.current.id
  account_id     = data.aws_caller_identity.current.account_id
  dashboard_name = "${var.name_prefix}-pipeline"
  create_topic   = var.alarm_topic_arn == null
  create_kms_key = local.create_topic && var.create_kms_key
  kms_key_arn    = local.create_kms_key ? aws_kms_key.alarms[0].arn : var.kms_key_arn
  alarm_topic    = local.create_topic ? aws_sns_topic.alarms[0].arn : var.alarm_topic_arn
  alarm_actions  = [local.alarm_topic]

  # Lambda metric widgets: one line per function.
  function_metric = { for key, name in var.function_names : key => ["AWS/Lambda", "Duration", "FunctionName", name] }

  # A DLQ that the sweeper drains holds messages for a minute or two as a matter of course.
  dlq_depth_periods = { for key in keys(var.dlq_names) : key => contains(var.consumed_dlqs, key) ? var.dlq_consumed_evaluation_periods : 1 }
}

################################################################################
# Alarm topic
################################################################################

# CloudWatch can publish to an encrypted topic only if the key policy lets cloudwatch.amazonaws.com use the
# key, which the AWS managed alias/aws/sns key does not: so the topic gets a customer managed key.
resource "aws_kms_key" "alarms" {
  count = local.create_kms_key ? 1 : 0

  description             = "${var.name_prefix} alarm topic encryption"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  policy                  = data.aws_iam_policy_document.alarms_key[0].json

  tags = var.tags
}

resource "aws_kms_alias" "alarms" {
  count = local.create_kms_key ? 1 : 0

  name          = "alias/${var.name_prefix}-alarms"
  target_key_id = aws_kms_key.alarms[0].key_id
}

data "aws_iam_policy_document" "alarms_key" {
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means "this key" (the policy is attached to exactly one key).
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means "this key"; the account-root statement delegates its administration to IAM, as the AWS default key policy does.
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means "this key"; the account-root statement delegates its use to IAM, as the AWS default key policy does.
  count = local.create_kms_key ? 1 : 0

  statement {
    # The AWS default key policy gives the account root kms:*; the actions are listed instead so that no
    # wildcard action appears, and include everything needed to manage and eventually delete the key.
    sid = "AccountAdministersThroughIam"
    actions = [
      "kms:CancelKeyDeletion",
      "kms:CreateAlias",
      "kms:CreateGrant",
      "kms:Decrypt",
      "kms:DeleteAlias",
      "kms:DescribeKey",
      "kms:DisableKey",
      "kms:DisableKeyRotation",
      "kms:EnableKey",
      "kms:EnableKeyRotation",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListGrants",
      "kms:ListKeyPolicies",
      "kms:ListKeyRotations",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
      "kms:RetireGrant",
      "kms:RevokeGrant",
      "kms:RotateKeyOnDemand",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateAlias",
      "kms:UpdateKeyDescription",
    ]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchPublishesAlarms"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic" "alarms" {
  count = local.create_topic ? 1 : 0

  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = local.kms_key_arn

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.create_kms_key || var.kms_key_arn != null
      error_message = "With create_kms_key = false, kms_key_arn must name the key that encrypts the alarm topic."
    }
  }
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_email_addresses)

  topic_arn = local.alarm_topic
  protocol  = "email"
  endpoint  = each.value
}

################################################################################
# Queues: a message in a DLQ failed every attempt; an old message means a stalled stage
################################################################################

resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  for_each = var.dlq_names

  alarm_name          = "${var.name_prefix}-${each.key}-dlq-depth"
  alarm_description   = contains(var.consumed_dlqs, each.key) ? "The ${each.key} DLQ held messages for ${local.dlq_depth_periods[each.key]} minutes: the sweeper is not draining it (check its errors and configuration_faults)." : "Messages in the ${each.key} dead-letter queue: deliveries that failed every attempt. Inspect, fix, then redrive."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = local.dlq_depth_periods[each.key]
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dlq_age" {
  for_each = var.dlq_names

  alarm_name          = "${var.name_prefix}-${each.key}-dlq-age"
  alarm_description   = "The oldest message in the ${each.key} DLQ is over ${var.dlq_age_threshold_seconds} s old: nothing has handled it."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = var.dlq_age_threshold_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "oldest_message_age" {
  for_each = var.queue_names

  alarm_name          = "${var.name_prefix}-${each.key}-oldest-message-age"
  alarm_description   = "The oldest message in the ${each.key} queue waited more than ${var.oldest_message_age_threshold_seconds} s: the stage is stalled or under-provisioned."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = var.evaluation_periods
  threshold           = var.oldest_message_age_threshold_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

################################################################################
# Functions: errors (the handlers report per-message failures, so a function error is a crash or a
# timeout), throttles, and durations close to the timeout
################################################################################

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  for_each = var.function_names

  alarm_name          = "${var.name_prefix}-${each.key}-errors"
  alarm_description   = "The ${each.key} function failed invocations (crash, timeout or out of memory)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = var.evaluation_periods
  threshold           = var.function_errors_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "function_throttles" {
  for_each = var.function_names

  alarm_name          = "${var.name_prefix}-${each.key}-throttles"
  alarm_description   = "The ${each.key} function was throttled: its reserved concurrency (or the account's) is exhausted."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = var.evaluation_periods
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "function_duration" {
  for_each = var.function_names

  alarm_name          = "${var.name_prefix}-${each.key}-duration-near-timeout"
  alarm_description   = "The slowest ${each.key} invocation took over ${var.duration_threshold_percent}% of its ${var.function_timeouts[each.key]} s timeout."
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = { FunctionName = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = var.evaluation_periods
  threshold           = var.function_timeouts[each.key] * 1000 * var.duration_threshold_percent / 100
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags

  lifecycle {
    precondition {
      condition     = contains(keys(var.function_timeouts), each.key)
      error_message = "function_timeouts has no timeout for the ${each.key} function."
    }
  }
}

################################################################################
# API: share of requests answered with 5xx
################################################################################

resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  alarm_name          = "${var.name_prefix}-api-5xx-rate"
  alarm_description   = "More than ${var.api_5xx_rate_threshold_percent}% of API requests got a 5xx answer."
  evaluation_periods  = var.evaluation_periods
  threshold           = var.api_5xx_rate_threshold_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "rate"
    expression  = "IF(requests > 0, 100 * errors / requests, 0)"
    label       = "5xx rate (%)"
    return_data = true
  }

  metric_query {
    id = "errors"

    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "5xx"
      dimensions  = { ApiId = var.api_id }
      stat        = "Sum"
      period      = 60
    }
  }

  metric_query {
    id = "requests"

    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "Count"
      dimensions  = { ApiId = var.api_id }
      stat        = "Sum"
      period      = 60
    }
  }

  tags = var.tags
}

################################################################################
# DynamoDB: throttled requests on the table or one of its indexes
################################################################################

resource "aws_cloudwatch_metric_alarm" "dynamodb_throttles" {
  alarm_name          = "${var.name_prefix}-dynamodb-throttles"
  alarm_description   = "Requests to ${var.table_name} or its indexes were throttled (a hot partition or an index that cannot keep up)."
  evaluation_periods  = var.evaluation_periods
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "throttles"
    expression  = "SUM(METRICS())"
    label       = "Throttled requests"
    return_data = true
  }

  metric_query {
    id = "table_reads"

    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "ReadThrottleEvents"
      dimensions  = { TableName = var.table_name }
      stat        = "Sum"
      period      = 60
    }
  }

  metric_query {
    id = "table_writes"

    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "WriteThrottleEvents"
      dimensions  = { TableName = var.table_name }
      stat        = "Sum"
      period      = 60
    }
  }

  dynamic "metric_query" {
    for_each = var.table_index_names

    content {
      id = "index_writes_${metric_query.key}"

      metric {
        namespace   = "AWS/DynamoDB"
        metric_name = "WriteThrottleEvents"
        dimensions  = { TableName = var.table_name, GlobalSecondaryIndexName = metric_query.value }
        stat        = "Sum"
        period      = 60
      }
    }
  }

  tags = var.tags
}

################################################################################
# Pipeline: the code's own metrics (CloudWatch EMF, services/contract.json metrics)
################################################################################

# The share of jobs that end failed, over 15 minutes and only above a minimum volume.
resource "aws_cloudwatch_metric_alarm" "failure_rate" {
  alarm_name          = "${var.name_prefix}-failure-rate"
  alarm_description   = "More than ${var.failure_rate_threshold_percent}% of the jobs that ended in 15 minutes failed (with at least ${var.failure_rate_min_jobs} ended). jobs_failed by error_code on the dashboard says why."
  evaluation_periods  = 1
  threshold           = var.failure_rate_threshold_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "rate"
    expression  = "IF((failed + completed) >= ${var.failure_rate_min_jobs}, 100 * failed / (failed + completed), 0)"
    label       = "Failed jobs (%)"
    return_data = true
  }

  metric_query {
    id = "failed"

    metric {
      namespace   = var.metrics_namespace
      metric_name = "jobs_ended"
      dimensions  = { outcome = "failed" }
      stat        = "Sum"
      period      = 900
    }
  }

  metric_query {
    id = "completed"

    metric {
      namespace   = var.metrics_namespace
      metric_name = "jobs_ended"
      dimensions  = { outcome = "completed" }
      stat        = "Sum"
      period      = 900
    }
  }

  tags = var.tags
}

# Every job the sweeper ends from a DLQ failed all its deliveries.
resource "aws_cloudwatch_metric_alarm" "swept_dead_letters" {
  alarm_name          = "${var.name_prefix}-swept-dead-letters"
  alarm_description   = "The sweeper ended jobs whose messages exhausted their deliveries (swept reason=dead_letter): a stage keeps failing on them."
  namespace           = var.metrics_namespace
  metric_name         = "swept"
  dimensions          = { reason = "dead_letter" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

# AccessDenied, a missing resource, a configuration the code refuses: a deployment fault, never the input's.
# One Metrics Insights query covers every function and stage without listing them.
resource "aws_cloudwatch_metric_alarm" "configuration_faults" {
  alarm_name          = "${var.name_prefix}-configuration-faults"
  alarm_description   = "A function hit a configuration fault (AccessDenied, a missing resource, a refused setting): fix the deployment."
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "faults"
    expression  = "SELECT SUM(configuration_faults) FROM SCHEMA(\"${var.metrics_namespace}\", \"function\", \"stage\")"
    label       = "Configuration faults"
    period      = 60
    return_data = true
  }

  tags = var.tags
}

################################################################################
# Dashboard: the pipeline's metrics first, then the AWS services'
################################################################################

locals {
  models = sort(var.model_names)

  # Latency percentiles shown for every latency metric.
  percentiles = ["p50", "p95", "p99"]

  pipeline_widgets = [
    {
      type   = "metric"
      x      = 0
      y      = 1
      width  = 12
      height = 6
      properties = {
        title  = "Images completed and failed (per minute)"
        region = local.region
        view   = "timeSeries"
        stat   = "Sum"
        period = 60
        metrics = [
          [var.metrics_namespace, "jobs_ended", "outcome", "completed", { label = "completed" }],
          [var.metrics_namespace, "jobs_ended", "outcome", "failed", { label = "failed" }],
        ]
      }
    },
    {
      type   = "metric"
      x      = 12
      y      = 1
      width  = 12
      height = 6
      properties = {
        title  = "Failures by error code (per minute)"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          [{ id = "codes", expression = "SEARCH('{${var.metrics_namespace},error_code} MetricName=\"jobs_failed\"', 'Sum', 60)", label = "" }],
        ]
      }
    },
    {
      type   = "metric"
      x      = 0
      y      = 7
      width  = 12
      height = 6
      properties = {
        title  = "End-to-end latency by model (ms)"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = flatten([
          for model in local.models : [
            for p in local.percentiles : [var.metrics_namespace, "end_to_end_ms", "model", model, { stat = p, label = "${model} ${p}" }]
          ]
        ])
      }
    },
    {
      type   = "metric"
      x      = 12
      y      = 7
      width  = 12
      height = 6
      properties = {
        title  = "Completions by model (per minute)"
        region = local.region
        view   = "timeSeries"
        stat   = "Sum"
        period = 60
        metrics = [
          for model in local.models : [var.metrics_namespace, "jobs_completed", "model", model, { label = model }]
        ]
      }
    },
    {
      type   = "metric"
      x      = 0
      y      = 13
      width  = 12
      height = 6
      properties = {
        title  = "Stage latency, whole handler (ms, p50/p95/p99)"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          for p in local.percentiles : [{ id = "total_${p}", expression = "SEARCH('{${var.metrics_namespace},function,stage,step} MetricName=\"stage_ms\" step=\"total\"', '${p}', 60)", label = p }]
        ]
      }
    },
    {
      type   = "metric"
      x      = 12
      y      = 13
      width  = 12
      height = 6
      properties = {
        title  = "Queue waits (ms, p50/p95/p99)"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          for p in local.percentiles : [{ id = "wait_${p}", expression = "SEARCH('{${var.metrics_namespace},function,stage,step} MetricName=\"stage_ms\" step=\"queue_wait\"', '${p}', 60)", label = p }]
        ]
      }
    },
    {
      type   = "metric"
      x      = 0
      y      = 19
      width  = 12
      height = 6
      properties = {
        title  = "Decode and model time (ms, p95)"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          [{ id = "decode", expression = "SEARCH('{${var.metrics_namespace},function,stage,step} MetricName=\"stage_ms\" step=\"decode_resize\"', 'p95', 60)", label = "decode_resize" }],
          [{ id = "model", expression = "SEARCH('{${var.metrics_namespace},function,stage,step} MetricName=\"stage_ms\" step=\"model_run\"', 'p95', 60)", label = "model_run" }],
        ]
      }
    },
    {
      type   = "metric"
      x      = 12
      y      = 19
      width  = 12
      height = 6
      properties = {
        title  = "Batch sizes (messages per invocation)"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          [{ id = "batch_avg", expression = "SEARCH('{${var.metrics_namespace},function,stage} MetricName=\"batch_size\"', 'Average', 60)", label = "average" }],
          [{ id = "batch_max", expression = "SEARCH('{${var.metrics_namespace},function,stage} MetricName=\"batch_size\"', 'Maximum', 60)", label = "max" }],
        ]
      }
    },
    {
      type   = "metric"
      x      = 0
      y      = 25
      width  = 12
      height = 6
      properties = {
        title  = "Sweeper and webhooks (per minute)"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          [{ id = "swept", expression = "SEARCH('{${var.metrics_namespace},reason} MetricName=\"swept\"', 'Sum', 60)", label = "swept" }],
          [{ id = "webhooks", expression = "SEARCH('{${var.metrics_namespace},outcome} MetricName=\"webhooks\"', 'Sum', 60)", label = "webhooks" }],
        ]
      }
    },
    {
      type   = "metric"
      x      = 12
      y      = 25
      width  = 12
      height = 6
      properties = {
        title  = "Faults, refusals, cold starts (per minute)"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          [{ id = "config", expression = "SEARCH('{${var.metrics_namespace},function,stage} MetricName=\"configuration_faults\"', 'Sum', 60)", label = "configuration faults" }],
          [{ id = "stage_failures", expression = "SEARCH('{${var.metrics_namespace},function,stage,error_code} MetricName=\"failures\"', 'Sum', 60)", label = "stage failures" }],
          [{ id = "publish", expression = "SEARCH('{${var.metrics_namespace},function} MetricName=\"event_publish_failures\"', 'Sum', 60)", label = "event publish failures" }],
          [{ id = "quota", expression = "SEARCH('{${var.metrics_namespace},function} MetricName=\"quota_refusals\"', 'Sum', 60)", label = "quota refusals" }],
          [{ id = "cold", expression = "SEARCH('{${var.metrics_namespace},function} MetricName=\"cold_start\"', 'Sum', 60)", label = "cold starts" }],
          [{ id = "processed", expression = "SEARCH('{${var.metrics_namespace},function,stage} MetricName=\"images_processed\"', 'Sum', 60)", label = "images processed" }],
        ]
      }
    },
  ]

  aws_widgets = [
    {
      type   = "metric"
      x      = 0
      y      = 32
      width  = 12
      height = 6
      properties = {
        title  = "Throughput (per minute)"
        region = local.region
        view   = "timeSeries"
        stat   = "Sum"
        period = 60
        metrics = concat(
          [["AWS/ApiGateway", "Count", "ApiId", var.api_id, { label = "API requests" }]],
          [for key, name in var.queue_names : ["AWS/SQS", "NumberOfMessagesSent", "QueueName", name, { label = "${key} queued" }]],
          [for key, name in var.queue_names : ["AWS/SQS", "NumberOfMessagesDeleted", "QueueName", name, { label = "${key} done" }]],
        )
      }
    },
    {
      type   = "metric"
      x      = 12
      y      = 32
      width  = 12
      height = 6
      properties = {
        title  = "Latency by function (ms, p50 and p99)"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = concat(
          [["AWS/ApiGateway", "Latency", "ApiId", var.api_id, { stat = "p50", label = "API p50" }]],
          [["AWS/ApiGateway", "Latency", "ApiId", var.api_id, { stat = "p99", label = "API p99" }]],
          [for key, metric in local.function_metric : concat(metric, [{ stat = "p50", label = "${key} p50" }])],
          [for key, metric in local.function_metric : concat(metric, [{ stat = "p99", label = "${key} p99" }])],
        )
      }
    },
    {
      type   = "metric"
      x      = 0
      y      = 38
      width  = 12
      height = 6
      properties = {
        title  = "Errors (per minute)"
        region = local.region
        view   = "timeSeries"
        stat   = "Sum"
        period = 60
        metrics = concat(
          [["AWS/ApiGateway", "5xx", "ApiId", var.api_id, { label = "API 5xx" }]],
          [["AWS/ApiGateway", "4xx", "ApiId", var.api_id, { label = "API 4xx" }]],
          [for key, name in var.function_names : ["AWS/Lambda", "Errors", "FunctionName", name, { label = "${key} errors" }]],
          [for key, name in var.function_names : ["AWS/Lambda", "Throttles", "FunctionName", name, { label = "${key} throttles" }]],
          [["AWS/DynamoDB", "WriteThrottleEvents", "TableName", var.table_name, { label = "table write throttles" }]],
        )
      }
    },
    {
      type   = "metric"
      x      = 12
      y      = 38
      width  = 12
      height = 6
      properties = {
        title  = "Queue depth and age"
        region = local.region
        view   = "timeSeries"
        stat   = "Maximum"
        period = 60
        metrics = concat(
          [for key, name in var.queue_names : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", name, { label = "${key} visible" }]],
          [for key, name in var.queue_names : ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", name, { label = "${key} in flight" }]],
          [for key, name in var.dlq_names : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", name, { label = "${key} DLQ" }]],
          [for key, name in var.queue_names : ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", name, { label = "${key} oldest (s)", yAxis = "right" }]],
        )
      }
    },
    {
      type   = "metric"
      x      = 0
      y      = 44
      width  = 24
      height = 6
      properties = {
        title  = "Concurrency"
        region = local.region
        view   = "timeSeries"
        stat   = "Maximum"
        period = 60
        metrics = [
          for key, name in var.function_names : ["AWS/Lambda", "ConcurrentExecutions", "FunctionName", name, { label = key }]
        ]
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.dashboard_name
  dashboard_body = jsonencode({
    widgets = concat(
      [
        {
          type       = "text"
          x          = 0
          y          = 0
          width      = 24
          height     = 1
          properties = { markdown = "## ${var.name_prefix}: api -> preprocess -> inference per model -> events (webhooks, sweeper)" }
        },
      ],
      local.pipeline_widgets,
      [
        {
          type       = "text"
          x          = 0
          y          = 31
          width      = 24
          height     = 1
          properties = { markdown = "### AWS services: API Gateway, Lambda, SQS, DynamoDB" }
        },
      ],
      local.aws_widgets,
    )
  })
}
