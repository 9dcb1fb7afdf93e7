variable "name_prefix" {
  description = "Prefix of every name, \"{project}-{environment}\". The topic is \"{name_prefix}-alarms\", the dashboard \"{name_prefix}-pipeline\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-63 characters of lowercase letters, digits and hyphens, starting and ending with a letter or digit."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "function_names" {
  description = "Function names by key (api, preprocess, sweeper, notify, inference-{model}): one set of Lambda alarms each."
  type        = map(string)

  validation {
    condition     = length(var.function_names) > 0
    error_message = "function_names must name at least one function."
  }
}

variable "function_timeouts" {
  description = "Function timeouts in seconds by key (same keys as function_names), for the duration-near-timeout alarms."
  type        = map(number)

  validation {
    condition     = alltrue([for timeout in values(var.function_timeouts) : timeout >= 1])
    error_message = "Function timeouts must be at least 1 second."
  }
}

variable "queue_names" {
  description = "Work queue names by key (preprocess, notify, inference-{model})."
  type        = map(string)

  validation {
    condition     = length(var.queue_names) > 0
    error_message = "queue_names must name at least one queue."
  }
}

variable "dlq_names" {
  description = "Dead-letter queue names by the key of their work queue."
  type        = map(string)

  validation {
    condition     = length(var.dlq_names) > 0
    error_message = "dlq_names must name at least one queue."
  }
}

variable "consumed_dlqs" {
  description = "Keys (in dlq_names) of the DLQs a function drains (the sweeper): a message there is being handled, so their depth alarm waits for dlq_consumed_evaluation_periods minutes; every other DLQ alarms on its first message."
  type        = list(string)
  default     = []
}

variable "model_names" {
  description = "Deployed model names: one line each on the per-model widgets (end-to-end latency, completions)."
  type        = list(string)
  default     = []
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the pipeline's embedded metrics (services/contract.json metrics.namespace)."
  type        = string
  default     = "imgpipe"

  validation {
    condition     = length(var.metrics_namespace) > 0
    error_message = "metrics_namespace must not be empty."
  }
}

variable "api_id" {
  description = "ID of the HTTP API (dimension ApiId of its metrics)."
  type        = string

  validation {
    condition     = length(var.api_id) > 0
    error_message = "api_id must not be empty."
  }
}

variable "table_name" {
  description = "Name of the DynamoDB table."
  type        = string

  validation {
    condition     = length(var.table_name) > 0
    error_message = "table_name must not be empty."
  }
}

variable "table_index_names" {
  description = "Global secondary indexes of the table, whose write throttles back-pressure the table."
  type        = list(string)
  default     = []
}

variable "alarm_topic_arn" {
  description = "ARN of an existing SNS topic for every alarm (its policy must let cloudwatch.amazonaws.com publish, and its key, if any, let CloudWatch use it). null: create \"{name_prefix}-alarms\" with its own KMS key."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be null or an SNS topic ARN."
  }
}

variable "alarm_email_addresses" {
  description = "Addresses subscribed to the alarm topic by email (each must confirm the subscription)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for address in var.alarm_email_addresses : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", address))])
    error_message = "Each alarm email address must look like name@example.com."
  }
}

variable "create_kms_key" {
  description = "Create the customer managed KMS key that encrypts the created alarm topic (CloudWatch alarms cannot publish to a topic under the AWS managed alias/aws/sns key). false: use kms_key_arn. Ignored with alarm_topic_arn."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "ARN of an existing customer managed KMS key for the created alarm topic, used when create_kms_key is false; its policy must let cloudwatch.amazonaws.com use kms:Decrypt and kms:GenerateDataKey."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-f0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN."
  }
}

variable "kms_key_deletion_window_in_days" {
  description = "Waiting period before the created alarm-topic key is deleted after a destroy (days)."
  type        = number
  default     = 7

  validation {
    condition     = var.kms_key_deletion_window_in_days >= 7 && var.kms_key_deletion_window_in_days <= 30
    error_message = "kms_key_deletion_window_in_days must be from 7 to 30."
  }
}

variable "evaluation_periods" {
  description = "One-minute periods an alarm condition must hold before it fires (DLQ alarms fire on the first)."
  type        = number
  default     = 3

  validation {
    condition     = var.evaluation_periods >= 1 && var.evaluation_periods <= 60 && floor(var.evaluation_periods) == var.evaluation_periods
    error_message = "evaluation_periods must be an integer from 1 to 60."
  }
}

variable "oldest_message_age_threshold_seconds" {
  description = "Age of the oldest message in a work queue (seconds) above which the stage counts as stalled."
  type        = number
  default     = 600

  validation {
    condition     = var.oldest_message_age_threshold_seconds >= 60
    error_message = "oldest_message_age_threshold_seconds must be at least 60."
  }
}

variable "function_errors_threshold" {
  description = "Failed invocations per minute above which a function alarms."
  type        = number
  default     = 0

  validation {
    condition     = var.function_errors_threshold >= 0
    error_message = "function_errors_threshold must not be negative."
  }
}

variable "duration_threshold_percent" {
  description = "Share of a function's timeout (percent) above which its slowest invocation alarms."
  type        = number
  default     = 80

  validation {
    condition     = var.duration_threshold_percent > 0 && var.duration_threshold_percent < 100
    error_message = "duration_threshold_percent must be between 0 and 100."
  }
}

variable "api_5xx_rate_threshold_percent" {
  description = "Share of API requests answered with 5xx (percent, per minute) above which the API alarms."
  type        = number
  default     = 1

  validation {
    condition     = var.api_5xx_rate_threshold_percent > 0 && var.api_5xx_rate_threshold_percent <= 100
    error_message = "api_5xx_rate_threshold_percent must be above 0 and at most 100."
  }
}

variable "dlq_consumed_evaluation_periods" {
  description = "Minutes a DLQ that the sweeper drains may hold messages before its depth alarm fires (the sweeper normally empties it within a minute or two)."
  type        = number
  default     = 15

  validation {
    condition     = var.dlq_consumed_evaluation_periods >= 1 && var.dlq_consumed_evaluation_periods <= 1440 && floor(var.dlq_consumed_evaluation_periods) == var.dlq_consumed_evaluation_periods
    error_message = "dlq_consumed_evaluation_periods must be a whole number of minutes from 1 to 1440."
  }
}

variable "dlq_age_threshold_seconds" {
  description = "Age of the oldest message in any DLQ (seconds) above which it alarms: nobody (or no sweeper) has handled it."
  type        = number
  default     = 3600

  validation {
    condition     = var.dlq_age_threshold_seconds >= 60
    error_message = "dlq_age_threshold_seconds must be at least 60."
  }
}

variable "failure_rate_threshold_percent" {
  description = "Share of jobs ending failed over 15 minutes (jobs_ended outcome=failed / (failed + completed), percent) above which the pipeline alarms."
  type        = number
  default     = 5

  validation {
    condition     = var.failure_rate_threshold_percent > 0 && var.failure_rate_threshold_percent <= 100
    error_message = "failure_rate_threshold_percent must be above 0 and at most 100."
  }
}

variable "failure_rate_min_jobs" {
  description = "Fewest jobs ended in 15 minutes for the failure rate to count (below it the rate reads 0: two failures out of three jobs is no outage)."
  type        = number
  default     = 20

  validation {
    condition     = var.failure_rate_min_jobs >= 1 && floor(var.failure_rate_min_jobs) == var.failure_rate_min_jobs
    error_message = "failure_rate_min_jobs must be a positive whole number."
  }
}
