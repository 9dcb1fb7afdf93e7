output "api_url" {
  description = "Base URL of the HTTP API."
  value       = module.imgpipe.api_url
}

output "api_execution_arn" {
  description = "Execution ARN of the API (for execute-api:Invoke grants)."
  value       = module.imgpipe.api_execution_arn
}

output "bucket_name" {
  description = "Name of the image bucket."
  value       = module.imgpipe.bucket_name
}

output "table_name" {
  description = "Name of the DynamoDB table."
  value       = module.imgpipe.table_name
}

output "queue_urls" {
  description = "URLs of the work queues and their dead-letter queues."
  value = {
    preprocess     = module.imgpipe.preprocess_queue_url
    preprocess_dlq = module.imgpipe.preprocess_dlq_url
    inference      = module.imgpipe.inference_queue_url
    inference_dlq  = module.imgpipe.inference_dlq_url
  }
}

output "function_names" {
  description = "Function names by role."
  value       = module.imgpipe.function_names
}

output "function_arns" {
  description = "Function ARNs by role."
  value       = module.imgpipe.function_arns
}

output "dashboard_url" {
  description = "Console URL of the CloudWatch dashboard."
  value       = module.imgpipe.dashboard_url
}

output "alarm_topic_arn" {
  description = "ARN of the SNS topic the alarms notify."
  value       = module.imgpipe.alarm_topic_arn
}
