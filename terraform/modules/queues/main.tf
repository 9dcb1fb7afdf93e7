data "aws_caller_identity" "current" {}

data "aws_cloudwatch_event_bus" "existing" {
  count = var.event_bus_name == null ? 0 : 1

  name = var.event_bus_name
}

locals {
  event_bus_name = var.event_bus_name == null ? aws_cloudwatch_event_bus.this[0].name : data.aws_cloudwatch_event_bus.existing[0].name
  event_bus_arn  = var.event_bus_name == null ? aws_cloudwatch_event_bus.this[0].arn : data.aws_cloudwatch_event_bus.existing[0].arn

  # Every queue (work queues and DLQs) gets a policy: TLS only; the bucket may send to the allow_s3 queues, the
  # webhooks rule to the webhook queue.
  queue_policies = merge(
    {
      for key, queue in aws_sqs_queue.this : key => {
        arn              = queue.arn
        url              = queue.id
        from_s3          = var.queues[key].allow_s3
        from_webhook_key = key == var.webhook_queue
      }
    },
    {
      for key, queue in aws_sqs_queue.dlq : "${key}-dlq" => {
        arn              = queue.arn
        url              = queue.id
        from_s3          = false
        from_webhook_key = false
      }
    },
  )
}

################################################################################
# Queues and their DLQs
################################################################################

resource "aws_sqs_queue" "dlq" {
  for_each = var.queues

  name                       = "${var.name_prefix}-${each.key}-dlq"
  message_retention_seconds  = each.value.dlq_message_retention_seconds
  visibility_timeout_seconds = each.value.dlq_visibility_timeout_seconds
  # The DLQ receives the work queue's messages as they are: it must take them as large.
  max_message_size        = each.value.max_message_size
  sqs_managed_sse_enabled = true

  tags = var.tags

  lifecycle {
    precondition {
      # A message's age counts from its first enqueue, so a DLQ that keeps messages for less time than the
      # work queue would drop them on arrival.
      condition     = each.value.dlq_message_retention_seconds >= var.message_retention_seconds
      error_message = "The ${each.key} DLQ retention must be at least message_retention_seconds (${var.message_retention_seconds} s)."
    }
  }
}

resource "aws_sqs_queue" "this" {
  for_each = var.queues

  name                       = "${var.name_prefix}-${each.key}"
  visibility_timeout_seconds = each.value.visibility_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  receive_wait_time_seconds  = var.receive_wait_time_seconds
  max_message_size           = each.value.max_message_size
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = each.value.max_receive_count
  })

  tags = var.tags
}

# Only the matching work queue may move messages into a DLQ.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each = var.queues

  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this[each.key].arn]
  })
}

data "aws_iam_policy_document" "queue" {
  for_each = local.queue_policies

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [each.value.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = each.value.from_s3 ? [var.bucket_arn] : []

    content {
      sid       = "AllowNotificationsFromImageBucket"
      effect    = "Allow"
      actions   = ["sqs:SendMessage"]
      resources = [each.value.arn]

      principals {
        type        = "Service"
        identifiers = ["s3.amazonaws.com"]
      }

      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [statement.value]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [data.aws_caller_identity.current.account_id]
      }
    }
  }

  dynamic "statement" {
    for_each = each.value.from_webhook_key ? [aws_cloudwatch_event_rule.webhooks.arn] : []

    content {
      sid       = "AllowEventsFromWebhooksRule"
      effect    = "Allow"
      actions   = ["sqs:SendMessage"]
      resources = [each.value.arn]

      principals {
        type        = "Service"
        identifiers = ["events.amazonaws.com"]
      }

      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [statement.value]
      }
    }
  }
}

resource "aws_sqs_queue_policy" "this" {
  for_each = local.queue_policies

  queue_url = each.value.url
  policy    = data.aws_iam_policy_document.queue[each.key].json
}

################################################################################
# EventBridge: the pipeline's bus and its rules
################################################################################

resource "aws_cloudwatch_event_bus" "this" {
  count = var.event_bus_name == null ? 1 : 0

  name = "${var.name_prefix}-events"

  tags = var.tags
}

# Finished images whose job asked for a callback go to the notify queue; notify signs and delivers them.
resource "aws_cloudwatch_event_rule" "webhooks" {
  name           = "${var.name_prefix}-webhooks"
  description    = "Finished images with a callback_url, to the webhook queue"
  event_bus_name = local.event_bus_name
  event_pattern = jsonencode({
    source = [var.event_source]
    detail = {
      callback_url = [{ exists = true }]
    }
  })

  tags = var.tags

  lifecycle {
    precondition {
      condition     = contains(keys(var.queues), var.webhook_queue)
      error_message = "webhook_queue (${var.webhook_queue}) is not a key of queues."
    }
  }
}

resource "aws_cloudwatch_event_target" "webhooks" {
  rule           = aws_cloudwatch_event_rule.webhooks.name
  event_bus_name = local.event_bus_name
  target_id      = "webhook-queue"
  arn            = aws_sqs_queue.this[var.webhook_queue].arn

  # EventBridge checks the queue policy when it delivers, not here; the policy must exist before the first event.
  depends_on = [aws_sqs_queue_policy.this]
}

# An example consumer of the bus: every failed image, to a log group (query it with Logs Insights).
resource "aws_cloudwatch_event_rule" "failed_images" {
  name           = "${var.name_prefix}-failed-images"
  description    = "Every failed image, to /aws/events/${var.name_prefix}-failed-images"
  event_bus_name = local.event_bus_name
  event_pattern = jsonencode({
    source        = [var.event_source]
    "detail-type" = [var.failed_detail_type]
  })

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "failed_images" {
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days) for an example audit trail of failures; a year of it is a cost the environment opts into.
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data at rest by default; a customer managed key is used when var.log_kms_key_arn is set (its key policy must allow logs.<region>.amazonaws.com).
  name              = "/aws/events/${var.name_prefix}-failed-images"
  retention_in_days = var.failed_images_log_retention_days
  kms_key_id        = var.log_kms_key_arn

  tags = var.tags
}

# EventBridge writes to a log group through the group's resource policy, not through a role.
data "aws_iam_policy_document" "failed_images_logs" {
  statement {
    sid       = "EventBridgeCreatesStreams"
    actions   = ["logs:CreateLogStream"]
    resources = ["${aws_cloudwatch_log_group.failed_images.arn}:*"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "delivery.logs.amazonaws.com"]
    }
  }

  statement {
    sid       = "EventBridgeWritesEvents"
    actions   = ["logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.failed_images.arn}:*:*"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "delivery.logs.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.failed_images.arn]
    }
  }
}

resource "aws_cloudwatch_log_resource_policy" "failed_images" {
  policy_name     = "${var.name_prefix}-failed-images"
  policy_document = data.aws_iam_policy_document.failed_images_logs.json
}

resource "aws_cloudwatch_event_target" "failed_images" {
  rule           = aws_cloudwatch_event_rule.failed_images.name
  event_bus_name = local.event_bus_name
  target_id      = "failed-images-log"
  arn            = aws_cloudwatch_log_group.failed_images.arn

  depends_on = [aws_cloudwatch_log_resource_policy.failed_images]
}
