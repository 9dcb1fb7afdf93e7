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
  description = "Execution ARN of the API: grant callers execute-api:Invoke on \"<this>/$default/<METHOD>/images*\" and \"<this>/$default/GET/models\" when api_authorization_mode is iam."
  value       = module.api.api_execution_arn
}

output "api_authorization_mode" {
  description = "Authorization mode of the API (IMGPIPE_AUTH_MODE): iam, jwt or none."
  value       = module.api.authorization_mode
}

output "bucket_name" {
  description = "Name of the image bucket (uploads/, ingest/, results/)."
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

output "queue_urls" {
  description = "Work queue URLs by key (preprocess, notify, inference-{model})."
  value       = module.queues.queue_urls
}

output "dlq_urls" {
  description = "Dead-letter queue URLs by the key of their work queue."
  value       = module.queues.dlq_urls
}

output "event_bus_name" {
  description = "Name of the EventBridge bus the pipeline publishes Image Completed and Image Failed events to."
  value       = module.queues.event_bus_name
}

output "event_bus_arn" {
  description = "ARN of the pipeline's EventBridge bus (add rules of your own to it)."
  value       = module.queues.event_bus_arn
}

output "function_names" {
  description = "Function names by key (api, preprocess, sweeper, notify, inference-{model})."
  value       = { for key, function in module.function : key => function.function_name }
}

output "function_arns" {
  description = "Function ARNs by key (api, preprocess, sweeper, notify, inference-{model})."
  value       = { for key, function in module.function : key => function.function_arn }
}

output "log_group_names" {
  description = "Log group names: one per function, the API's access log and the failed-images example."
  value = merge(
    { for key, function in module.function : key => function.log_group_name },
    { api_access = module.api.access_log_group_name, failed_images = module.queues.failed_images_log_group_name },
  )
}

output "layer_arns" {
  description = "Layer version ARNs: onnxruntime-{arch} and model-{model}."
  value = merge(
    { for arch, layer in aws_lambda_layer_version.onnxruntime : "onnxruntime-${arch}" => layer.arn },
    { for name, layer in aws_lambda_layer_version.model : "model-${name}" => layer.arn },
  )
}

output "model_routing" {
  description = "The routing in force (IMGPIPE_MODEL_ROUTING): name=weight, in percent."
  value       = local.model_routing_value
}

output "webhook_secret_arn" {
  description = "ARN of the secret holding the webhook signing key (null: webhooks have no key). A created secret is empty until you put the whsec_... value into it."
  value       = local.webhook_secret_arn
}

output "dashboard_url" {
  description = "Console URL of the CloudWatch dashboard."
  value       = module.monitoring.dashboard_url
}

output "alarm_topic_arn" {
  description = "ARN of the SNS topic the alarms notify."
  value       = module.monitoring.alarm_topic_arn
}

output "alarm_names" {
  description = "Names of every alarm, by kind."
  value       = module.monitoring.alarm_names
}
