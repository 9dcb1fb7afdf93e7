output "preprocess_queue_arn" {
  description = "ARN of the preprocess queue (fed by S3 upload notifications). Available only once the queue policy that lets the bucket send is in place, so a bucket notification built from it cannot be put too early."
  value       = aws_sqs_queue.this["preprocess"].arn

  depends_on = [aws_sqs_queue_policy.this]
}

output "preprocess_queue_url" {
  description = "URL of the preprocess queue."
  value       = aws_sqs_queue.this["preprocess"].id
}

output "preprocess_queue_name" {
  description = "Name of the preprocess queue."
  value       = aws_sqs_queue.this["preprocess"].name
}

output "preprocess_dlq_arn" {
  description = "ARN of the preprocess dead-letter queue."
  value       = aws_sqs_queue.dlq["preprocess"].arn
}

output "preprocess_dlq_url" {
  description = "URL of the preprocess dead-letter queue."
  value       = aws_sqs_queue.dlq["preprocess"].id
}

output "preprocess_dlq_name" {
  description = "Name of the preprocess dead-letter queue."
  value       = aws_sqs_queue.dlq["preprocess"].name
}

output "inference_queue_arn" {
  description = "ARN of the inference queue (fed by the preprocess function)."
  value       = aws_sqs_queue.this["inference"].arn
}

output "inference_queue_url" {
  description = "URL of the inference queue (IMGPIPE_INFERENCE_QUEUE_URL of the preprocess function)."
  value       = aws_sqs_queue.this["inference"].id
}

output "inference_queue_name" {
  description = "Name of the inference queue."
  value       = aws_sqs_queue.this["inference"].name
}

output "inference_dlq_arn" {
  description = "ARN of the inference dead-letter queue."
  value       = aws_sqs_queue.dlq["inference"].arn
}

output "inference_dlq_url" {
  description = "URL of the inference dead-letter queue."
  value       = aws_sqs_queue.dlq["inference"].id
}

output "inference_dlq_name" {
  description = "Name of the inference dead-letter queue."
  value       = aws_sqs_queue.dlq["inference"].name
}

output "queue_names" {
  description = "Work queue names by stage (preprocess, inference)."
  value       = { for stage, queue in aws_sqs_queue.this : stage => queue.name }
}

output "dlq_names" {
  description = "Dead-letter queue names by stage (preprocess, inference)."
  value       = { for stage, queue in aws_sqs_queue.dlq : stage => queue.name }
}
