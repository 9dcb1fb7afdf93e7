variable "name_prefix" {
  description = "Prefix of every name, \"{project}-{environment}\". Queues are \"{name_prefix}-{key}\" and \"{name_prefix}-{key}-dlq\", the bus \"{name_prefix}-events\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,41}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-43 characters of lowercase letters, digits and hyphens, starting and ending with a letter or digit."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "queues" {
  description = "Work queues by key (preprocess, notify, inference-{model}), each with its DLQ and redrive. visibility_timeout_seconds: at least 6x the consumer's timeout plus its batching window; dlq_visibility_timeout_seconds likewise for a DLQ that a function consumes. max_message_size: set on the queue and its DLQ (which receives the same messages); null leaves SQS's default. allow_s3: the bucket may send (S3 notifications)."
  type = map(object({
    visibility_timeout_seconds     = number
    max_receive_count              = number
    dlq_message_retention_seconds  = optional(number, 1209600)
    dlq_visibility_timeout_seconds = optional(number, 30)
    max_message_size               = optional(number)
    allow_s3                       = optional(bool, false)
  }))

  validation {
    condition     = alltrue([for key in keys(var.queues) : can(regex("^[a-z0-9][a-z0-9-]*$", key))])
    error_message = "Queue keys must be lowercase letters, digits and hyphens."
  }

  validation {
    condition = alltrue([for q in values(var.queues) : (
      q.visibility_timeout_seconds >= 0 && q.visibility_timeout_seconds <= 43200 &&
      q.dlq_visibility_timeout_seconds >= 0 && q.dlq_visibility_timeout_seconds <= 43200 &&
      q.max_receive_count >= 1 && q.max_receive_count <= 1000 && floor(q.max_receive_count) == q.max_receive_count &&
      q.dlq_message_retention_seconds >= 60 && q.dlq_message_retention_seconds <= 1209600
    )])
    error_message = "Per queue: visibility timeouts 0-43200 s, max_receive_count 1-1000, dlq_message_retention_seconds 60-1209600 (14 days)."
  }

  validation {
    condition     = alltrue([for q in values(var.queues) : q.max_message_size == null || try(q.max_message_size >= 1024 && q.max_message_size <= 262144, false)])
    error_message = "max_message_size must be null or 1024-262144 bytes."
  }
}

variable "bucket_arn" {
  description = "ARN of the image bucket, the only S3 source the allow_s3 queues accept (aws:SourceArn)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]{3,63}$", var.bucket_arn))
    error_message = "bucket_arn must be an S3 bucket ARN."
  }
}

variable "message_retention_seconds" {
  description = "How long a work queue keeps a message (seconds). Also the sweeper's working timeout basis (IMGPIPE_WORKING_TIMEOUT_SECS)."
  type        = number
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds must be from 60 to 1209600 (14 days)."
  }
}

variable "receive_wait_time_seconds" {
  description = "Long-polling wait of the work queues (seconds); the Lambda pollers long-poll anyway, this covers other consumers."
  type        = number
  default     = 20

  validation {
    condition     = var.receive_wait_time_seconds >= 0 && var.receive_wait_time_seconds <= 20
    error_message = "receive_wait_time_seconds must be from 0 to 20."
  }
}

variable "event_bus_name" {
  description = "Name of an existing EventBridge bus the pipeline publishes to. null: create \"{name_prefix}-events\"."
  type        = string
  default     = null

  validation {
    condition     = var.event_bus_name == null || can(regex("^[A-Za-z0-9._-]{1,256}$", var.event_bus_name))
    error_message = "event_bus_name must be null or an event bus name (letters, digits, . _ -)."
  }
}

variable "event_source" {
  description = "The source of the pipeline's events (services/contract.json events.source)."
  type        = string
  default     = "imgpipe"
}

variable "failed_detail_type" {
  description = "The detail-type of a failed image's event (services/contract.json events.detail_types), matched by the example failed-images rule."
  type        = string
  default     = "Image Failed"
}

variable "webhook_queue" {
  description = "Key (in queues) of the queue the webhooks rule feeds: events with a detail.callback_url."
  type        = string
  default     = "notify"
}

variable "failed_images_log_retention_days" {
  description = "Retention of the example failed-images log group (/aws/events/{name_prefix}-failed-images) in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.failed_images_log_retention_days)
    error_message = "failed_images_log_retention_days must be one of the values CloudWatch Logs accepts."
  }
}

variable "log_kms_key_arn" {
  description = "ARN of a KMS key for the failed-images log group; its key policy must allow logs.<region>.amazonaws.com. null: CloudWatch Logs' default encryption."
  type        = string
  default     = null

  validation {
    condition     = var.log_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-f0-9-]+$", var.log_kms_key_arn))
    error_message = "log_kms_key_arn must be null or a KMS key ARN."
  }
}
