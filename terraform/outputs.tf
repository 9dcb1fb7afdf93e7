output "name_prefix" {
  description = "Prefix of every resource name (\"{project}-{environment}\")."
  value       = local.name_prefix
}

output "api_url" {
  description = "Base URL of the HTTP API; append /images."
  value       = module.api.api_endpoint
}

output "api_id" {
  description = "ID of the HTTP API."
  value       = module.api.api_id
}

output "api_execution_arn" {
  description = "Execution ARN of the API: grant callers execute-api:Invoke on \"<this>/$default/<METHOD>/images*\" when api_authorization_mode is iam."
  value       = module.api.api_execution_arn
}

output "api_authorization_mode" {
  description = "Authorization mode of the API: iam, jwt or none."
  value       = module.api.authorization_mode
}

output "bucket_name" {
  description = "Name of the image bucket."
  value       = module.storage.bucket_name
}

output "bucket_arn" {
  description = "ARN of the image bucket."
  value       = module.storage.bucket_arn
}

output "table_name" {
  description = "Name of the DynamoDB table."
  value       = module.storage.table_name
}

output "table_arn" {
  description = "ARN of the DynamoDB table."
  value       = module.storage.table_arn
}

output "preprocess_queue_url" {
  description = "URL of the preprocess queue."
  value       = module.queues.preprocess_queue_url
}

output "preprocess_dlq_url" {
  description = "URL of the preprocess dead-letter queue."
  value       = module.queues.preprocess_dlq_url
}

output "inference_queue_url" {
  description = "URL of the inference queue."
  value       = module.queues.inference_queue_url
}

output "inference_dlq_url" {
  description = "URL of the inference dead-letter queue."
  value       = module.queues.inference_dlq_url
}

output "function_names" {
  description = "Function names by role (api, preprocess, inference)."
  value       = module.compute.function_names
}

output "function_arns" {
  description = "Function ARNs by role (api, preprocess, inference)."
  value       = module.compute.function_arns
}

output "log_group_names" {
  description = "Log group names: one per function, and the API's access log."
  value       = merge(module.compute.log_group_names, { api_access = module.api.access_log_group_name })
}

output "dashboard_url" {
  description = "Console URL of the CloudWatch dashboard."
  value       = module.monitoring.dashboard_url
}

output "alarm_topic_arn" {
  description = "ARN of the SNS topic the alarms notify."
  value       = module.monitoring.alarm_topic_arn
}
