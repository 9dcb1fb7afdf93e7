output "queue_arns" {
  description = "Work queue ARNs by key. Available only once the queue policies are in place, so that an S3 notification or an event target built from them cannot be put too early (S3 checks the permission when the notification is put)."
  value       = { for key, queue in aws_sqs_queue.this : key => queue.arn }

  depends_on = [aws_sqs_queue_policy.this]
}

output "queue_urls" {
  description = "Work queue URLs by key."
  value       = { for key, queue in aws_sqs_queue.this : key => queue.id }
}

output "queue_names" {
  description = "Work queue names by key."
  value       = { for key, queue in aws_sqs_queue.this : key => queue.name }
}

output "dlq_arns" {
  description = "Dead-letter queue ARNs by the key of their work queue."
  value       = { for key, queue in aws_sqs_queue.dlq : key => queue.arn }
}

output "dlq_urls" {
  description = "Dead-letter queue URLs by the key of their work queue."
  value       = { for key, queue in aws_sqs_queue.dlq : key => queue.id }
}

output "dlq_names" {
  description = "Dead-letter queue names by the key of their work queue."
  value       = { for key, queue in aws_sqs_queue.dlq : key => queue.name }
}

output "message_retention_seconds" {
  description = "How long a work queue keeps a message (seconds)."
  value       = var.message_retention_seconds
}

output "event_bus_name" {
  description = "Name of the bus the pipeline publishes to (IMGPIPE_EVENT_BUS_NAME)."
  value       = local.event_bus_name
}

output "event_bus_arn" {
  description = "ARN of the bus the pipeline publishes to (the only resource of events:PutEvents)."
  value       = local.event_bus_arn
}

output "webhooks_rule_arn" {
  description = "ARN of the rule that sends events with a callback_url to the webhook queue."
  value       = aws_cloudwatch_event_rule.webhooks.arn
}

output "failed_images_rule_arn" {
  description = "ARN of the example rule that logs every failed image."
  value       = aws_cloudwatch_event_rule.failed_images.arn
}

output "failed_images_log_group_name" {
  description = "Log group of the example failed-images rule."
  value       = aws_cloudwatch_log_group.failed_images.name
}

output "visibility_timeouts" {
  description = "Visibility timeout of each work queue in seconds, by key (for checks against the consumer's timeout)."
  value       = { for key, queue in aws_sqs_queue.this : key => queue.visibility_timeout_seconds }
}

output "dlq_visibility_timeouts" {
  description = "Visibility timeout of each DLQ in seconds, by the key of its work queue."
  value       = { for key, queue in aws_sqs_queue.dlq : key => queue.visibility_timeout_seconds }
}

output "max_message_sizes" {
  description = "max_message_size of each work queue and of its DLQ, by key ({queue, dlq}; null: SQS's default)."
  value       = { for key, settings in var.queues : key => { queue = aws_sqs_queue.this[key].max_message_size, dlq = aws_sqs_queue.dlq[key].max_message_size } }
}
