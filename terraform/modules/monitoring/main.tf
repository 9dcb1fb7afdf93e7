data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  region         = data.aws_region.current.name
  account_id     = data.aws_caller_identity.current.account_id
  dashboard_name = "${var.name_prefix}-pipeline"
  kms_key_arn    = var.create_kms_key ? aws_kms_key.alarms[0].arn : var.kms_key_arn
  alarm_actions  = [aws_sns_topic.alarms.arn]

  stages = ["preprocess", "inference"]

  # Lambda metric widgets: one line per function.
  function_metric = { for role, name in var.function_names : role => ["AWS/Lambda", "Duration", "FunctionName", name] }
}

################################################################################
# Alarm topic
################################################################################

# CloudWatch can publish to an encrypted topic only if the key policy lets cloudwatch.amazonaws.com use the
# key, which the AWS managed alias/aws/sns key does not: so the topic gets a customer managed key.
resource "aws_kms_key" "alarms" {
  count = var.create_kms_key ? 1 : 0

  description             = "${var.name_prefix} alarm topic encryption"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  policy                  = data.aws_iam_policy_document.alarms_key[0].json

  tags = var.tags
}

resource "aws_kms_alias" "alarms" {
  count = var.create_kms_key ? 1 : 0

  name          = "alias/${var.name_prefix}-alarms"
  target_key_id = aws_kms_key.alarms[0].key_id
}

data "aws_iam_policy_document" "alarms_key" {
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means "this key" (the policy is attached to exactly one key).
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means "this key"; the account-root statement delegates its administration to IAM, as the AWS default key policy does.
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means "this key"; the account-root statement delegates its use to IAM, as the AWS default key policy does.
  count = var.create_kms_key ? 1 : 0

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

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

################################################################################
# Queues: anything in a DLQ needs a person; an old message means a stalled stage
################################################################################

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  for_each = var.dlq_names

  alarm_name          = "${var.name_prefix}-${each.key}-dlq-not-empty"
  alarm_description   = "Messages in the ${each.key} dead-letter queue: images that failed every attempt. Inspect, fix, then redrive."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
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
# Dashboard: throughput, latency by stage, errors, queue depth
################################################################################

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.dashboard_name
  dashboard_body = jsonencode({
    widgets = [
      {
        type       = "text"
        x          = 0
        y          = 0
        width      = 24
        height     = 1
        properties = { markdown = "## ${var.name_prefix}: requests -> preprocess -> inference" }
      },
      {
        type   = "metric"
        x      = 0
        y      = 1
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
            [for stage in local.stages : ["AWS/SQS", "NumberOfMessagesSent", "QueueName", var.queue_names[stage], { label = "${stage} queued" }]],
            [for stage in local.stages : ["AWS/SQS", "NumberOfMessagesDeleted", "QueueName", var.queue_names[stage], { label = "${stage} done" }]],
          )
        }
      },
      {
        type   = "metric"
        x      = 12
        y      = 1
        width  = 12
        height = 6
        properties = {
          title  = "Latency by stage (ms, p50 and p99)"
          region = local.region
          view   = "timeSeries"
          period = 60
          metrics = concat(
            [["AWS/ApiGateway", "Latency", "ApiId", var.api_id, { stat = "p50", label = "API p50" }]],
            [["AWS/ApiGateway", "Latency", "ApiId", var.api_id, { stat = "p99", label = "API p99" }]],
            [for role, metric in local.function_metric : concat(metric, [{ stat = "p50", label = "${role} p50" }])],
            [for role, metric in local.function_metric : concat(metric, [{ stat = "p99", label = "${role} p99" }])],
          )
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 7
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
            [for role, name in var.function_names : ["AWS/Lambda", "Errors", "FunctionName", name, { label = "${role} errors" }]],
            [for role, name in var.function_names : ["AWS/Lambda", "Throttles", "FunctionName", name, { label = "${role} throttles" }]],
            [["AWS/DynamoDB", "WriteThrottleEvents", "TableName", var.table_name, { label = "table write throttles" }]],
          )
        }
      },
      {
        type   = "metric"
        x      = 12
        y      = 7
        width  = 12
        height = 6
        properties = {
          title  = "Queue depth and age"
          region = local.region
          view   = "timeSeries"
          stat   = "Maximum"
          period = 60
          metrics = concat(
            [for stage in local.stages : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.queue_names[stage], { label = "${stage} visible" }]],
            [for stage in local.stages : ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", var.queue_names[stage], { label = "${stage} in flight" }]],
            [for stage in local.stages : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.dlq_names[stage], { label = "${stage} DLQ" }]],
            [for stage in local.stages : ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", var.queue_names[stage], { label = "${stage} oldest (s)", yAxis = "right" }]],
          )
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 13
        width  = 24
        height = 6
        properties = {
          title  = "Concurrency"
          region = local.region
          view   = "timeSeries"
          stat   = "Maximum"
          period = 60
          metrics = [
            for role, name in var.function_names : ["AWS/Lambda", "ConcurrentExecutions", "FunctionName", name, { label = role }]
          ]
        }
      },
    ]
  })
}
