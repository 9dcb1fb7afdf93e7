variable "name_prefix" {
  description = "Prefix of every name, \"{project}-{environment}\". The bucket is \"{name_prefix}-images-{account_id}\", the table \"{name_prefix}-images\"."
  type        = string

  validation {
    # 43 characters keep the bucket name ("-images-" and a 12-digit account id added) within S3's 63.
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,41}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-43 characters of lowercase letters, digits and hyphens, starting and ending with a letter or digit."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "object_prefixes" {
  description = "S3 key prefixes the code uses (services/contract.json s3_prefixes): API uploads, bulk ingest, ingest results. Not a tuning knob: change them only together with the code."
  type = object({
    uploads = string
    ingest  = string
    results = string
  })
  default = {
    uploads = "uploads/"
    ingest  = "ingest/"
    results = "results/"
  }

  validation {
    condition     = alltrue([for prefix in values(var.object_prefixes) : can(regex("^[a-z0-9-]+/$", prefix))])
    error_message = "Each prefix must be lowercase letters, digits or hyphens followed by a single \"/\"."
  }
}

variable "notifications" {
  description = "S3 ObjectCreated notifications: objects created under prefix are announced to the queue queue_arn (queue_name names it in the notification id). Each queue's policy must already allow this bucket to send."
  type = list(object({
    prefix     = string
    queue_name = string
    queue_arn  = string
  }))

  validation {
    condition     = alltrue([for n in var.notifications : can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}$", n.queue_arn)) && can(regex("^[a-z0-9-]+/$", n.prefix))])
    error_message = "Each notification needs an SQS queue ARN and a prefix of lowercase letters, digits or hyphens ending in \"/\"."
  }
}

variable "cors_allowed_origins" {
  description = "Browser origins allowed to PUT to the presigned upload URLs (exact origins, e.g. https://app.example.com). Empty: no CORS rule. \"*\" is refused."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for origin in var.cors_allowed_origins : can(regex("^https?://[^*/\\s]+$", origin))])
    error_message = "Each CORS origin must be an exact origin such as https://app.example.com (scheme and host, optional port, no path, no \"*\")."
  }
}

variable "kms_key_arn" {
  description = "ARN of a customer managed KMS key for the bucket (SSE-KMS with bucket keys) and the table. null: SSE-S3 for the bucket and the AWS managed key for the table."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-f0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the bucket with all object versions in it. Keep false outside disposable environments."
  type        = bool
  default     = false
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which incomplete multipart uploads are aborted."
  type        = number
  default     = 1

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "abort_incomplete_multipart_upload_days must be a whole number of days, at least 1."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days a noncurrent object version outside the code's prefixes is kept before it expires (the whole-bucket rule)."
  type        = number
  default     = 7

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
}

variable "prefix_noncurrent_version_expiration_days" {
  description = "Days a noncurrent version under uploads/, ingest/ or results/ is kept: the version an expiry or a DELETE leaves behind goes a day later."
  type        = number
  default     = 1

  validation {
    condition     = var.prefix_noncurrent_version_expiration_days >= 1 && floor(var.prefix_noncurrent_version_expiration_days) == var.prefix_noncurrent_version_expiration_days
    error_message = "prefix_noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
}

variable "object_expiration_days" {
  description = "Days after which objects under uploads/, ingest/ and results/ expire; set it to the record retention (IMGPIPE_RETENTION_DAYS) so objects and their DynamoDB items go together. null keeps them until deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.object_expiration_days == null || try(var.object_expiration_days >= 1 && floor(var.object_expiration_days) == var.object_expiration_days, false)
    error_message = "object_expiration_days must be null or a whole number of days, at least 1."
  }
}

variable "deletion_protection_enabled" {
  description = "Protect the DynamoDB table from deletion. Turn off only in disposable environments."
  type        = bool
  default     = true
}

variable "point_in_time_recovery_enabled" {
  description = "Enable point-in-time recovery (continuous backups, 35 days) for the DynamoDB table."
  type        = bool
  default     = true
}
