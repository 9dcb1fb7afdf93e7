output "function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "invoke_arn" {
  description = "Invoke ARN of the function, for an API Gateway integration."
  value       = aws_lambda_function.this.invoke_arn
}

output "timeout" {
  description = "Timeout of the function in seconds, for alarms on duration."
  value       = aws_lambda_function.this.timeout
}

output "role_arn" {
  description = "ARN of the execution role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the execution role."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "Name of the function's log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "event_source_mapping_ids" {
  description = "Event source mapping UUIDs, by the names given in event_source_mappings."
  value       = { for name, mapping in aws_lambda_event_source_mapping.this : name => mapping.uuid }
}

output "schedule_rule_arn" {
  description = "ARN of the schedule rule, null without a schedule."
  value       = one(aws_cloudwatch_event_rule.schedule[*].arn)
}

output "policy_json" {
  description = "The role's inline policy (for inspection and tests)."
  value       = data.aws_iam_policy_document.this.json
}
