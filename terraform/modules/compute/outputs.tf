output "function_names" {
  description = "Function names by role (api, preprocess, inference)."
  value       = { for name, function in aws_lambda_function.this : name => function.function_name }
}

output "function_arns" {
  description = "Function ARNs by role (api, preprocess, inference)."
  value       = { for name, function in aws_lambda_function.this : name => function.arn }
}

output "function_timeouts" {
  description = "Function timeouts in seconds by role, for alarms on duration."
  value       = { for name, function in aws_lambda_function.this : name => function.timeout }
}

output "api_function_name" {
  description = "Name of the api function (the HTTP API's integration target)."
  value       = aws_lambda_function.this["api"].function_name
}

output "api_function_invoke_arn" {
  description = "Invoke ARN of the api function, for the API Gateway integration."
  value       = aws_lambda_function.this["api"].invoke_arn
}

output "role_arns" {
  description = "Execution role ARNs by function."
  value       = { for name, role in aws_iam_role.this : name => role.arn }
}

output "log_group_names" {
  description = "Log group names by function."
  value       = { for name, group in aws_cloudwatch_log_group.this : name => group.name }
}

output "layer_arns" {
  description = "Layer version ARNs (onnxruntime, model)."
  value = {
    onnxruntime = aws_lambda_layer_version.onnxruntime.arn
    model       = aws_lambda_layer_version.model.arn
  }
}

output "event_source_mapping_ids" {
  description = "Event source mapping UUIDs by consuming function (preprocess, inference)."
  value       = { for name, mapping in aws_lambda_event_source_mapping.this : name => mapping.uuid }
}

output "environment_variables" {
  description = "The environment each function gets, by function (for inspection and the local stack)."
  value       = local.environment_variables
}
