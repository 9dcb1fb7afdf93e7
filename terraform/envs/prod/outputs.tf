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

output "storage_kms_key_arn" {
  description = "ARN of the customer managed key of the bucket, the table and the log groups."
  value       = aws_kms_key.storage.arn
}

output "event_bus_name" {
  description = "EventBridge bus of the pipeline's events."
  value       = module.imgpipe.event_bus_name
}

output "function_names" {
  description = "Function names by key."
  value       = module.imgpipe.function_names
}

output "dashboard_url" {
  description = "Console URL of the CloudWatch dashboard."
  value       = module.imgpipe.dashboard_url
}

output "alarm_topic_arn" {
  description = "ARN of the SNS topic the alarms notify."
  value       = module.imgpipe.alarm_topic_arn
}
