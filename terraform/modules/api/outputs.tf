output "api_id" {
  description = "ID of the HTTP API."
  value       = aws_apigatewayv2_api.this.id
}

output "api_endpoint" {
  description = "Base URL of the API ($default stage), e.g. https://ID.execute-api.REGION.amazonaws.com."
  value       = aws_apigatewayv2_api.this.api_endpoint
}

output "api_execution_arn" {
  description = "Execution ARN of the API (the prefix of the ARNs execute-api:Invoke grants name)."
  value       = aws_apigatewayv2_api.this.execution_arn
}

output "stage_name" {
  description = "Name of the stage ($default)."
  value       = aws_apigatewayv2_stage.default.name
}

output "stage_invoke_url" {
  description = "Invoke URL of the $default stage."
  value       = aws_apigatewayv2_stage.default.invoke_url
}

output "route_keys" {
  description = "Routes of the API."
  value       = sort(tolist(local.route_keys))
}

output "authorization_mode" {
  description = "Authorization mode in force: iam, jwt or none."
  value       = var.authorization_mode
}

output "access_log_group_name" {
  description = "Name of the access log group."
  value       = aws_cloudwatch_log_group.access.name
}
