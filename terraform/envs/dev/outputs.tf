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
  description = "URLs of the work queues and of their dead-letter queues."
  value = {
    queues = module.imgpipe.queue_urls
    dlqs   = module.imgpipe.dlq_urls
  }
}

output "event_bus_name" {
  description = "EventBridge bus of the pipeline's events."
  value       = module.imgpipe.event_bus_name
}

output "webhook_secret_arn" {
  description = "Secret to put the webhook signing key into (null: none)."
  value       = module.imgpipe.webhook_secret_arn
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
