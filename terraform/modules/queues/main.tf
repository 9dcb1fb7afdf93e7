data "aws_caller_identity" "current" {}

locals {
  # One work queue per stage, each with its dead-letter queue (which gets the same messages, so the same
  # maximum message size).
  queues = {
    preprocess = {
      visibility_timeout_seconds    = var.preprocess_visibility_timeout_seconds
      max_receive_count             = var.preprocess_max_receive_count
      dlq_message_retention_seconds = var.preprocess_dlq_message_retention_seconds
      # S3 event notifications are a few KB: SQS's default is plenty.
      max_message_size = null
    }
    inference = {
      visibility_timeout_seconds    = var.inference_visibility_timeout_seconds
      max_receive_count             = var.inference_max_receive_count
      dlq_message_retention_seconds = var.inference_dlq_message_retention_seconds
      # The model-ready pixels (150,528 bytes) travel inside the message, as a binary attribute. 256 KiB is
      # MAX_SQS_MESSAGE_BYTES of services/core/src/messages.rs, the size the code checks a model's input
      # against at cold start; set explicitly because the pipeline depends on it, not left to a default.
      max_message_size = 262144
    }
  }

  # Every queue (work queues and DLQs) gets a policy; only the preprocess queue accepts S3 notifications.
  queue_policies = merge(
    { for name, queue in aws_sqs_queue.this : name => { arn = queue.arn, url = queue.id, from_s3 = name == "preprocess" } },
    { for name, queue in aws_sqs_queue.dlq : "${name}-dlq" => { arn = queue.arn, url = queue.id, from_s3 = false } },
  )
}

resource "aws_sqs_queue" "dlq" {
  for_each = local.queues

  name                      = "${var.name_prefix}-${each.key}-dlq"
  message_retention_seconds = each.value.dlq_message_retention_seconds
  max_message_size          = each.value.max_message_size
  sqs_managed_sse_enabled   = true

  tags = var.tags

  lifecycle {
    precondition {
      # A message's age counts from its first enqueue, so a DLQ that keeps messages for less time than the
      # source queue would drop them on arrival.
      condition     = each.value.dlq_message_retention_seconds >= var.message_retention_seconds
      error_message = "The ${each.key} DLQ retention must be at least message_retention_seconds (${var.message_retention_seconds} s)."
    }
  }
}

resource "aws_sqs_queue" "this" {
  for_each = local.queues

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
  for_each = local.queues

  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this[each.key].arn]
  })
}

data "aws_iam_policy_document" "queue" {
  for_each = local.queue_policies

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["sqs:*"]
    resources = [
      each.value.arn,
    ]

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
      sid       = "AllowUploadNotificationsFromImageBucket"
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
}

resource "aws_sqs_queue_policy" "this" {
  for_each = local.queue_policies

  queue_url = each.value.url
  policy    = data.aws_iam_policy_document.queue[each.key].json
}
