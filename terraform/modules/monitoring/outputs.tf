output "alarm_topic_arn" {
  description = "ARN of the SNS topic every alarm notifies; subscribe more endpoints to it as needed."
  value       = local.alarm_topic
}

output "alarm_topic_kms_key_arn" {
  description = "ARN of the KMS key encrypting the created alarm topic (created here when create_kms_key is true); null with an existing alarm_topic_arn."
  value       = local.kms_key_arn
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "dashboard_url" {
  description = "Console URL of the CloudWatch dashboard."
  value       = "https://${local.region}.console.aws.amazon.com/cloudwatch/home?region=${local.region}#dashboards/dashboard/${aws_cloudwatch_dashboard.this.dashboard_name}"
}

output "alarm_names" {
  description = "Names of every alarm, by kind."
  value = {
    dlq_depth            = [for alarm in aws_cloudwatch_metric_alarm.dlq_depth : alarm.alarm_name]
    dlq_age              = [for alarm in aws_cloudwatch_metric_alarm.dlq_age : alarm.alarm_name]
    oldest_message_age   = [for alarm in aws_cloudwatch_metric_alarm.oldest_message_age : alarm.alarm_name]
    function_errors      = [for alarm in aws_cloudwatch_metric_alarm.function_errors : alarm.alarm_name]
    function_throttles   = [for alarm in aws_cloudwatch_metric_alarm.function_throttles : alarm.alarm_name]
    function_duration    = [for alarm in aws_cloudwatch_metric_alarm.function_duration : alarm.alarm_name]
    api_5xx_rate         = [aws_cloudwatch_metric_alarm.api_5xx_rate.alarm_name]
    dynamodb_throttles   = [aws_cloudwatch_metric_alarm.dynamodb_throttles.alarm_name]
    failure_rate         = [aws_cloudwatch_metric_alarm.failure_rate.alarm_name]
    swept_dead_letters   = [aws_cloudwatch_metric_alarm.swept_dead_letters.alarm_name]
    configuration_faults = [aws_cloudwatch_metric_alarm.configuration_faults.alarm_name]
  }
}

output "alarm_actions" {
  description = "The alarm actions of every alarm, by alarm name (each notifies the alarm topic)."
  value = {
    for alarm in concat(
      values(aws_cloudwatch_metric_alarm.dlq_depth),
      values(aws_cloudwatch_metric_alarm.dlq_age),
      values(aws_cloudwatch_metric_alarm.oldest_message_age),
      values(aws_cloudwatch_metric_alarm.function_errors),
      values(aws_cloudwatch_metric_alarm.function_throttles),
      values(aws_cloudwatch_metric_alarm.function_duration),
      [
        aws_cloudwatch_metric_alarm.api_5xx_rate,
        aws_cloudwatch_metric_alarm.dynamodb_throttles,
        aws_cloudwatch_metric_alarm.failure_rate,
        aws_cloudwatch_metric_alarm.swept_dead_letters,
        aws_cloudwatch_metric_alarm.configuration_faults,
      ],
    ) : alarm.alarm_name => alarm.alarm_actions
  }
}
