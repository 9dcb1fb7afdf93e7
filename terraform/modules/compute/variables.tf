variable "function_name" {
  description = "Name of the function, also the name of its role and of its log group's last part (e.g. imgpipe-dev-inference-efficientnet-lite0)."
  type        = string

  validation {
    # Lambda function names and IAM role names are at most 64 characters.
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 letters, digits, hyphens or underscores (the limit of Lambda function and IAM role names)."
  }
}

variable "description" {
  description = "Description of the function."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags added to every resource of this module (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "filename" {
  description = "Path of the function's zip (a provided.al2023 `bootstrap` at its root). A missing file fails the plan with its path named."
  type        = string

  validation {
    condition     = can(regex("\\.zip$", var.filename))
    error_message = "filename must be the path of a .zip file."
  }
}

variable "architecture" {
  description = "Instruction set of the function: x86_64 or arm64 (the zip and every layer must be built for it)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "timeout" {
  description = "Timeout of the function in seconds."
  type        = number

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be a whole number of seconds from 1 to 900."
  }
}

variable "memory_size" {
  description = "Memory of the function in MB; CPU grows with it (one vCPU per 1,769 MB)."
  type        = number

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number of MB from 128 to 10240."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrency: both a guarantee and a cap. -1 leaves the function unreserved (for accounts whose concurrency quota cannot spare it)."
  type        = number
  default     = -1

  validation {
    condition     = var.reserved_concurrency == -1 || (var.reserved_concurrency >= 0 && floor(var.reserved_concurrency) == var.reserved_concurrency)
    error_message = "reserved_concurrency must be -1 (unreserved) or a whole number, at least 0."
  }
}

variable "layers" {
  description = "ARNs of the layer versions the function loads (unpacked under /opt), in order."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.layers) <= 5
    error_message = "A Lambda function takes at most 5 layers."
  }
}

variable "environment_variables" {
  description = "The function's environment: exactly the variables its configuration reads (services/contract.json)."
  type        = map(string)
  default     = {}
}

variable "policy_statements" {
  description = "The function's grants besides its own log group and X-Ray: one Allow statement each, on exact ARNs (no wildcard actions). conditions: IAM condition blocks (test, variable, values)."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
    conditions = optional(list(object({
      test     = string
      variable = string
      values   = list(string)
    })), [])
  }))
  default = []

  validation {
    condition     = alltrue([for s in var.policy_statements : can(regex("^[A-Za-z0-9]+$", s.sid)) && length(s.actions) > 0 && length(s.resources) > 0])
    error_message = "Each statement needs an alphanumeric sid, at least one action and at least one resource."
  }

  validation {
    condition     = alltrue(flatten([for s in var.policy_statements : [for a in s.actions : can(regex("^[a-z0-9-]+:[A-Za-z0-9]+$", a))]]))
    error_message = "Actions must be exact (service:Action): no wildcards."
  }

  validation {
    condition     = length(distinct([for s in var.policy_statements : s.sid])) == length(var.policy_statements)
    error_message = "Statement sids must be unique within the policy."
  }
}

variable "event_source_mappings" {
  description = "SQS queues the function consumes, by a name of the caller's choosing: queue ARN, batch size, batching window (seconds) and the most concurrent invocations the mapping starts (scaling_config.maximum_concurrency, 2-1000). Every mapping reports partial batch failures."
  type = map(object({
    queue_arn       = string
    batch_size      = number
    batching_window = optional(number, 0)
    max_concurrency = number
  }))
  default = {}

  validation {
    condition = alltrue([for m in values(var.event_source_mappings) : (
      m.batch_size >= 1 && m.batch_size <= 10000 && floor(m.batch_size) == m.batch_size &&
      m.batching_window >= 0 && m.batching_window <= 300 && floor(m.batching_window) == m.batching_window &&
      m.max_concurrency >= 2 && m.max_concurrency <= 1000 && floor(m.max_concurrency) == m.max_concurrency &&
      (m.batch_size <= 10 || m.batching_window >= 1)
    )])
    error_message = "Each mapping: batch_size 1-10000 (above 10 only with a batching window of at least 1 s), batching_window 0-300 s, max_concurrency 2-1000 (whole numbers)."
  }
}

variable "schedule" {
  description = "Invoke the function on a schedule: a rule on the account's default event bus with this expression (rate(...) or cron(...)) and this constant JSON input. null: no schedule."
  type = object({
    expression = string
    input      = optional(string)
  })
  default = null

  validation {
    condition     = var.schedule == null || can(regex("^(rate|cron)\\(.+\\)$", var.schedule.expression))
    error_message = "schedule.expression must be rate(...) or cron(...)."
  }
}

variable "log_level" {
  description = "Application log level (Lambda advanced logging; the Rust runtime reads it as AWS_LAMBDA_LOG_LEVEL)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.log_level)
    error_message = "log_level must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL."
  }
}

variable "system_log_level" {
  description = "Lambda platform log level. INFO keeps the per-invocation platform lines (start, report: duration and max memory used); WARN drops them."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN"], var.system_log_level)
    error_message = "system_log_level must be DEBUG, INFO or WARN."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's log group in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "log_kms_key_arn" {
  description = "ARN of a KMS key to encrypt the log group with; its key policy must allow logs.<region>.amazonaws.com. null: CloudWatch Logs' default encryption."
  type        = string
  default     = null

  validation {
    condition     = var.log_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-f0-9-]+$", var.log_kms_key_arn))
    error_message = "log_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "tracing_mode" {
  description = "X-Ray tracing: Active (sample and trace every invocation) or PassThrough."
  type        = string
  default     = "Active"

  validation {
    condition     = contains(["Active", "PassThrough"], var.tracing_mode)
    error_message = "tracing_mode must be Active or PassThrough."
  }
}

variable "role_permissions_boundary_arn" {
  description = "ARN of a permissions boundary policy for the function's role, where the account requires one. null: none."
  type        = string
  default     = null

  validation {
    condition     = var.role_permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/", var.role_permissions_boundary_arn))
    error_message = "role_permissions_boundary_arn must be null or an IAM policy ARN."
  }
}
