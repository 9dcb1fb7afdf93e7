variable "name_prefix" {
  description = "Prefix of every name, \"{project}-{environment}\". Queues are \"{name_prefix}-preprocess\", \"{name_prefix}-inference\" and their \"-dlq\" twins."
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

variable "bucket_arn" {
  description = "ARN of the image bucket: the only source (aws:SourceArn, same account) allowed to send S3 notifications to the preprocess queue."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_arn))
    error_message = "bucket_arn must be an S3 bucket ARN (arn:aws:s3:::NAME)."
  }
}

variable "preprocess_visibility_timeout_seconds" {
  description = "Visibility timeout of the preprocess queue. Keep it at least 6x the preprocess function's timeout (plus its batching window), as AWS recommends for Lambda consumers; the root module computes it that way."
  type        = number
  default     = 360

  validation {
    condition     = var.preprocess_visibility_timeout_seconds >= 0 && var.preprocess_visibility_timeout_seconds <= 43200 && floor(var.preprocess_visibility_timeout_seconds) == var.preprocess_visibility_timeout_seconds
    error_message = "preprocess_visibility_timeout_seconds must be a whole number of seconds from 0 to 43200."
  }
}

variable "inference_visibility_timeout_seconds" {
  description = "Visibility timeout of the inference queue. Keep it at least 6x the inference function's timeout (plus its batching window), as AWS recommends for Lambda consumers; the root module computes it that way."
  type        = number
  default     = 360

  validation {
    condition     = var.inference_visibility_timeout_seconds >= 0 && var.inference_visibility_timeout_seconds <= 43200 && floor(var.inference_visibility_timeout_seconds) == var.inference_visibility_timeout_seconds
    error_message = "inference_visibility_timeout_seconds must be a whole number of seconds from 0 to 43200."
  }
}

variable "preprocess_max_receive_count" {
  description = "Deliveries of a preprocess message before SQS moves it to the DLQ (redrive maxReceiveCount). The preprocess function gets the same number (IMGPIPE_MAX_RECEIVE_COUNT) to make its last attempt final."
  type        = number
  default     = 5

  validation {
    condition     = var.preprocess_max_receive_count >= 1 && var.preprocess_max_receive_count <= 1000 && floor(var.preprocess_max_receive_count) == var.preprocess_max_receive_count
    error_message = "preprocess_max_receive_count must be an integer from 1 to 1000."
  }
}

variable "inference_max_receive_count" {
  description = "Deliveries of an inference message before SQS moves it to the DLQ (redrive maxReceiveCount). The inference function gets the same number (IMGPIPE_MAX_RECEIVE_COUNT)."
  type        = number
  default     = 5

  validation {
    condition     = var.inference_max_receive_count >= 1 && var.inference_max_receive_count <= 1000 && floor(var.inference_max_receive_count) == var.inference_max_receive_count
    error_message = "inference_max_receive_count must be an integer from 1 to 1000."
  }
}

variable "preprocess_dlq_message_retention_seconds" {
  description = "How long the preprocess DLQ keeps a message (seconds; 14 days is SQS's maximum)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.preprocess_dlq_message_retention_seconds >= 60 && var.preprocess_dlq_message_retention_seconds <= 1209600
    error_message = "preprocess_dlq_message_retention_seconds must be from 60 to 1209600 (14 days)."
  }
}

variable "inference_dlq_message_retention_seconds" {
  description = "How long the inference DLQ keeps a message (seconds; 14 days is SQS's maximum)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.inference_dlq_message_retention_seconds >= 60 && var.inference_dlq_message_retention_seconds <= 1209600
    error_message = "inference_dlq_message_retention_seconds must be from 60 to 1209600 (14 days)."
  }
}

variable "message_retention_seconds" {
  description = "How long the work queues keep a message (seconds). Must not exceed the DLQ retention."
  type        = number
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds must be from 60 to 1209600 (14 days)."
  }
}

variable "receive_wait_time_seconds" {
  description = "Long-polling wait of the work queues (seconds). Lambda's pollers long-poll anyway; this only affects other consumers such as redrive tooling."
  type        = number
  default     = 20

  validation {
    condition     = var.receive_wait_time_seconds >= 0 && var.receive_wait_time_seconds <= 20
    error_message = "receive_wait_time_seconds must be from 0 to 20."
  }
}
