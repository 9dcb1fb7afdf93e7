variable "project" {
  description = "Project name, the first half of every resource name (\"{project}-{environment}\")."
  type        = string
  default     = "imgpipe"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.project))
    error_message = "project must be 2-20 characters: a lowercase letter, then lowercase letters, digits or hyphens."
  }
}

variable "environment" {
  description = "Environment name (dev, staging, prod, ...), the second half of every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,14}[a-z0-9]$", var.environment))
    error_message = "environment must be 2-16 characters of lowercase letters, digits and hyphens, starting and ending with a letter or digit."
  }
}

variable "tags" {
  description = "Tags added to every resource (Project and Environment are added automatically)."
  type        = map(string)
  default     = {}
}

variable "presign_expires_seconds" {
  description = "Lifetime of the presigned upload URLs the API hands out (IMGPIPE_PRESIGN_EXPIRES_SECS). A URL signed with the function's temporary credentials stops working when they expire, whatever this says."
  type        = number
  default     = 900

  validation {
    condition     = var.presign_expires_seconds >= 1 && var.presign_expires_seconds <= 43200 && floor(var.presign_expires_seconds) == var.presign_expires_seconds
    error_message = "presign_expires_seconds must be a whole number of seconds from 1 to 43200."
  }
}

variable "max_inline_bytes" {
  description = "Largest image the API accepts directly in a POST /images body (IMGPIPE_MAX_INLINE_BYTES). Lambda payloads are at most 6 MB and binary bodies arrive base64-encoded, so 4.5 MiB is the ceiling."
  type        = number
  default     = 4194304

  validation {
    condition     = var.max_inline_bytes >= 1 && var.max_inline_bytes <= 4718592 && floor(var.max_inline_bytes) == var.max_inline_bytes
    error_message = "max_inline_bytes must be an integer from 1 to 4718592 (4.5 MiB)."
  }
}

variable "max_upload_bytes" {
  description = "Largest upload accepted, checked by the API (declared length) and by preprocess (real size) (IMGPIPE_MAX_UPLOAD_BYTES)."
  type        = number
  default     = 26214400

  validation {
    condition     = var.max_upload_bytes >= 1 && floor(var.max_upload_bytes) == var.max_upload_bytes
    error_message = "max_upload_bytes must be a positive integer."
  }
}

variable "max_pixels" {
  description = "Largest decoded image (width x height) preprocess accepts, the decompression-bomb guard (IMGPIPE_MAX_PIXELS)."
  type        = number
  default     = 50000000

  validation {
    condition     = var.max_pixels >= 1 && floor(var.max_pixels) == var.max_pixels
    error_message = "max_pixels must be a positive integer."
  }
}

variable "retention_days" {
  description = "Days an image lives: the DynamoDB TTL the functions set (IMGPIPE_RETENTION_DAYS) and the expiry of its objects under uploads/, ingest/ and results/."
  type        = number
  default     = 30

  validation {
    condition     = var.retention_days >= 1 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a positive whole number of days."
  }
}

variable "top_k" {
  description = "Predictions stored per image (IMGPIPE_TOP_K)."
  type        = number
  default     = 5

  validation {
    condition     = var.top_k >= 1 && var.top_k <= 1000 && floor(var.top_k) == var.top_k
    error_message = "top_k must be an integer from 1 to 1000."
  }
}

variable "log_level" {
  description = "Application log level of every function (Lambda advanced logging; the Rust runtime reads it as AWS_LAMBDA_LOG_LEVEL)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.log_level)
    error_message = "log_level must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL."
  }
}

variable "log_retention_days" {
  description = "Retention of the functions' log groups in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "log_kms_key_arn" {
  description = "ARN of a KMS key to encrypt the functions' log groups with; its key policy must allow logs.<region>.amazonaws.com. null: CloudWatch Logs' default encryption."
  type        = string
  default     = null

  validation {
    condition     = var.log_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-f0-9-]+$", var.log_kms_key_arn))
    error_message = "log_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "role_permissions_boundary_arn" {
  description = "ARN of a permissions boundary policy for the functions' roles, where the account requires one. null: none."
  type        = string
  default     = null

  validation {
    condition     = var.role_permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/", var.role_permissions_boundary_arn))
    error_message = "role_permissions_boundary_arn must be null or an IAM policy ARN."
  }
}

variable "kms_key_arn" {
  description = "ARN of a customer managed KMS key for the bucket (SSE-KMS) and the table; the functions get the KMS grants they need, only through S3 and DynamoDB (kms:ViaService). The key policy must let the account's IAM policies grant its use. null: SSE-S3 and the AWS managed DynamoDB key."
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

variable "deletion_protection_enabled" {
  description = "Protect the DynamoDB table from deletion. Turn off only in disposable environments."
  type        = bool
  default     = true
}

variable "api_authorization_mode" {
  description = "Who may call the API (IMGPIPE_AUTH_MODE): \"iam\" (SigV4-signed requests, AWS_IAM), \"jwt\" (bearer tokens from api_jwt_issuer for api_jwt_audience) or \"none\" (anyone: refused unless allow_unauthenticated, and always for prod, production and live)."
  type        = string
  default     = "iam"

  validation {
    condition     = contains(["iam", "jwt", "none"], var.api_authorization_mode)
    error_message = "api_authorization_mode must be \"iam\", \"jwt\" or \"none\"."
  }
}

variable "api_jwt_issuer" {
  description = "Issuer URL of the JWT authorizer (e.g. https://cognito-idp.REGION.amazonaws.com/POOL_ID). Required when api_authorization_mode is \"jwt\"."
  type        = string
  default     = null

  validation {
    condition     = var.api_jwt_issuer == null || can(regex("^https://[^\\s]+$", var.api_jwt_issuer))
    error_message = "api_jwt_issuer must be null or an https:// URL."
  }
}

variable "api_jwt_audience" {
  description = "Accepted JWT audiences (aud claim; for Cognito access tokens, the app client ids). At least one is required when api_authorization_mode is \"jwt\"."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for audience in var.api_jwt_audience : length(trimspace(audience)) > 0])
    error_message = "api_jwt_audience must not contain empty strings."
  }
}

variable "api_jwt_authorization_scopes" {
  description = "OAuth scopes a JWT must carry on every route (api_authorization_mode \"jwt\" only). Empty: any valid token."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for scope in var.api_jwt_authorization_scopes : length(trimspace(scope)) > 0])
    error_message = "api_jwt_authorization_scopes must not contain empty strings."
  }
}

variable "api_cors_allowed_origins" {
  description = "Origins allowed to call the API, and to PUT to its presigned upload URLs, from a browser (exact origins, e.g. https://app.example.com). Empty: no CORS configuration. \"*\" is refused."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for origin in var.api_cors_allowed_origins : can(regex("^https?://[^*/\\s]+$", origin))])
    error_message = "Each CORS origin must be an exact origin such as https://app.example.com (scheme and host, optional port, no path, no \"*\")."
  }
}

variable "api_throttling_rate_limit" {
  description = "Steady-state requests per second the $default stage accepts (the account default is 10,000 across all APIs of a region)."
  type        = number
  default     = 1000

  validation {
    condition     = var.api_throttling_rate_limit >= 1
    error_message = "api_throttling_rate_limit must be at least 1."
  }
}

variable "api_throttling_burst_limit" {
  description = "Burst of requests the $default stage accepts above the rate limit."
  type        = number
  default     = 2000

  validation {
    condition     = var.api_throttling_burst_limit >= 1 && floor(var.api_throttling_burst_limit) == var.api_throttling_burst_limit
    error_message = "api_throttling_burst_limit must be a positive integer."
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

variable "alarm_topic_kms_key_arn" {
  description = "ARN of a customer managed KMS key for the alarm topic; its policy must let cloudwatch.amazonaws.com use kms:Decrypt and kms:GenerateDataKey. null: the module creates such a key (the AWS managed alias/aws/sns key cannot be used by CloudWatch alarms)."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_topic_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-f0-9-]+$", var.alarm_topic_kms_key_arn))
    error_message = "alarm_topic_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "artifacts_dir" {
  description = "Directory of the build artifacts and their manifest.json (lambda/<function>-<arch>.zip, layers/onnxruntime-<arch>.zip, layers/model-<name>-<variant>.zip). null: the repository's build/artifacts, seen from an environment directory (terraform/envs/<name>), where `make package` writes them."
  type        = string
  default     = null

  validation {
    condition     = var.artifacts_dir == null || try(length(trimspace(var.artifacts_dir)) > 0, false)
    error_message = "artifacts_dir must be null or a directory path."
  }
}

variable "functions" {
  description = "Settings of the api, preprocess, sweeper and notify functions; every field is optional and defaults to services/pipeline.json (reserved concurrency: api 50, preprocess 20, sweeper unreserved, notify 5). The consumers (preprocess, sweeper, notify) also take their SQS event source mapping (batch_size, batching_window, max_concurrency) and preprocess and notify their queue's max_receive_count; the sweeper its schedule."
  type = object({
    api = optional(object({
      timeout              = optional(number, 10)
      memory_size          = optional(number, 256)
      architecture         = optional(string, "x86_64")
      reserved_concurrency = optional(number, 50)
      # The api runs about four times per image (the POST and the status polls); its platform lines were the
      # largest part of the pipeline's log bill (bench/cost.py), and its durations are in the Lambda metrics.
      system_log_level = optional(string, "WARN")
    }), {})
    preprocess = optional(object({
      timeout              = optional(number, 60)
      memory_size          = optional(number, 1024)
      architecture         = optional(string, "x86_64")
      reserved_concurrency = optional(number, 20)
      batch_size           = optional(number, 10)
      batching_window      = optional(number, 0)
      max_concurrency      = optional(number, 20)
      max_receive_count    = optional(number, 5)
      system_log_level     = optional(string, "INFO")
    }), {})
    sweeper = optional(object({
      timeout      = optional(number, 60)
      memory_size  = optional(number, 256)
      architecture = optional(string, "x86_64")
      # Unreserved: one mapping per swept DLQ (preprocess and every model) with its own max_concurrency, plus
      # the schedule, so any cap would have to grow with the models.
      reserved_concurrency = optional(number, -1)
      batch_size           = optional(number, 10)
      batching_window      = optional(number, 0)
      max_concurrency      = optional(number, 2)
      schedule             = optional(string, "rate(5 minutes)")
      system_log_level     = optional(string, "INFO")
    }), {})
    notify = optional(object({
      timeout              = optional(number, 30)
      memory_size          = optional(number, 256)
      architecture         = optional(string, "x86_64")
      reserved_concurrency = optional(number, 5)
      batch_size           = optional(number, 10)
      batching_window      = optional(number, 0)
      max_concurrency      = optional(number, 5)
      max_receive_count    = optional(number, 8)
      system_log_level     = optional(string, "INFO")
    }), {})
  })
  default = {}

  validation {
    condition = alltrue([for f in [var.functions.api, var.functions.preprocess, var.functions.sweeper, var.functions.notify] : (
      f.timeout >= 1 && f.timeout <= 900 && floor(f.timeout) == f.timeout &&
      f.memory_size >= 128 && f.memory_size <= 10240 && floor(f.memory_size) == f.memory_size &&
      contains(["x86_64", "arm64"], f.architecture) &&
      (f.reserved_concurrency == -1 || (f.reserved_concurrency >= 1 && floor(f.reserved_concurrency) == f.reserved_concurrency)) &&
      contains(["DEBUG", "INFO", "WARN"], f.system_log_level)
    )])
    error_message = "Per function: timeout 1-900 s, memory_size 128-10240 MB, architecture x86_64 or arm64, reserved_concurrency -1 (unreserved) or a positive whole number, system_log_level DEBUG, INFO or WARN."
  }

  validation {
    condition = alltrue([for f in [var.functions.preprocess, var.functions.sweeper, var.functions.notify] : (
      f.batch_size >= 1 && f.batch_size <= 10000 && floor(f.batch_size) == f.batch_size &&
      f.batching_window >= 0 && f.batching_window <= 300 && floor(f.batching_window) == f.batching_window &&
      f.max_concurrency >= 2 && f.max_concurrency <= 1000 && floor(f.max_concurrency) == f.max_concurrency &&
      (f.reserved_concurrency == -1 || f.max_concurrency <= f.reserved_concurrency)
    )])
    error_message = "Per consumer: batch_size 1-10000, batching_window 0-300 s, max_concurrency 2-1000 (the limits of scaling_config.maximum_concurrency) and at most the reserved concurrency."
  }

  validation {
    condition = alltrue([for f in [var.functions.preprocess, var.functions.notify] : (
      f.max_receive_count >= 1 && f.max_receive_count <= 1000 && floor(f.max_receive_count) == f.max_receive_count
    )])
    error_message = "max_receive_count must be a whole number from 1 to 1000."
  }

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.functions.sweeper.schedule))
    error_message = "functions.sweeper.schedule must be rate(...) or cron(...)."
  }
}

variable "models" {
  description = "The models to deploy, by name: one inference function \"{prefix}-inference-{name}\", queue and DLQ each. Every field is optional: variant (the manifest's model layer model-<name>-<variant>.zip, default fp32), timeout/memory_size/batch_size/batching_window/max_concurrency (services/pipeline.json model_defaults), reserved_concurrency (10), architecture (x86_64 or arm64), ort_threads (ONNX Runtime intra-op threads; null: one per vCPU the memory buys, max(1, ceil(memory_size / 1769)), at most 6), max_receive_count (5)."
  type = map(object({
    variant              = optional(string, "fp32")
    memory_size          = optional(number, 2048)
    timeout              = optional(number, 60)
    batch_size           = optional(number, 8)
    batching_window      = optional(number, 1)
    max_concurrency      = optional(number, 10)
    reserved_concurrency = optional(number, 10)
    architecture         = optional(string, "x86_64")
    ort_threads          = optional(number)
    max_receive_count    = optional(number, 5)
  }))
  default = {
    "efficientnet-lite0" = {}
  }

  validation {
    condition     = length(var.models) >= 1 && alltrue([for name in keys(var.models) : can(regex("^[a-z0-9][a-z0-9-]{0,30}$", name))])
    error_message = "models must name at least one model; names are 1-31 lowercase letters, digits or hyphens, starting with a letter or digit."
  }

  validation {
    condition = alltrue([for m in values(var.models) : (
      can(regex("^[a-z0-9][a-z0-9_-]*$", m.variant)) &&
      m.timeout >= 1 && m.timeout <= 900 && floor(m.timeout) == m.timeout &&
      m.memory_size >= 128 && m.memory_size <= 10240 && floor(m.memory_size) == m.memory_size &&
      m.batching_window >= 0 && m.batching_window <= 300 && floor(m.batching_window) == m.batching_window &&
      m.max_concurrency >= 2 && m.max_concurrency <= 1000 && floor(m.max_concurrency) == m.max_concurrency &&
      (m.reserved_concurrency == -1 || (m.reserved_concurrency >= 1 && floor(m.reserved_concurrency) == m.reserved_concurrency && m.max_concurrency <= m.reserved_concurrency)) &&
      contains(["x86_64", "arm64"], m.architecture) &&
      m.max_receive_count >= 1 && m.max_receive_count <= 1000 && floor(m.max_receive_count) == m.max_receive_count
    )])
    error_message = "Per model: variant lowercase, timeout 1-900 s, memory_size 128-10240 MB, batching_window 0-300 s, max_concurrency 2-1000 and at most reserved_concurrency (-1: unreserved), architecture x86_64 or arm64, max_receive_count 1-1000."
  }

  validation {
    # Each message carries its image's pixels (a 224x224 RGB image is 150,528 bytes, about 200 KB once
    # base64-encoded in the Lambda event), and a whole batch must fit in Lambda's 6 MB invocation payload.
    condition     = alltrue([for m in values(var.models) : m.batch_size >= 1 && m.batch_size <= 25 && floor(m.batch_size) == m.batch_size && (m.batch_size <= 10 || m.batching_window >= 1)])
    error_message = "Per model: batch_size 1-25 (above 10 only with a batching window): each message carries about 200 KB of base64-encoded pixels, and a batch must fit in Lambda's 6 MB invocation payload."
  }

  validation {
    condition     = alltrue([for m in values(var.models) : m.ort_threads == null || try(m.ort_threads >= 1 && m.ort_threads <= 6 && floor(m.ort_threads) == m.ort_threads, false)])
    error_message = "ort_threads must be null (derived from memory_size) or a whole number from 1 to 6 (Lambda has at most 6 vCPUs)."
  }
}

variable "model_routing" {
  description = "Share of new images each model gets, in percent (whole numbers summing to 100; every name must be in models), e.g. { \"efficientnet-lite0\" = 90, \"efficientnet-lite2\" = 10 } (IMGPIPE_MODEL_ROUTING). null: 100% on the first model by name."
  type        = map(number)
  default     = null

  validation {
    condition     = var.model_routing == null || try(sum(values(var.model_routing)) == 100 && alltrue([for weight in values(var.model_routing) : weight >= 0 && floor(weight) == weight]), false)
    error_message = "model_routing weights must be whole numbers from 0 that sum to 100."
  }
}

variable "reserve_concurrency" {
  description = "Give each function its reserved concurrency. false: every function unreserved (reserved_concurrency -1), for accounts whose Lambda concurrency quota cannot spare any (new accounts start at 10); the event source mappings' max_concurrency still caps the consumers."
  type        = bool
  default     = true
}

variable "allow_unauthenticated" {
  description = "Accept api_authorization_mode = \"none\" (anyone may call the API; IMGPIPE_AUTH_MODE=none). false refuses it; environments named prod, production or live (or with such a hyphen-separated part) refuse it even when true."
  type        = bool
  default     = false
}

variable "event_bus_name" {
  description = "Name of an existing EventBridge bus for the pipeline's events (Image Completed, Image Failed). null: create \"{prefix}-events\"."
  type        = string
  default     = null

  validation {
    condition     = var.event_bus_name == null || can(regex("^[A-Za-z0-9._-]{1,256}$", var.event_bus_name))
    error_message = "event_bus_name must be null or an event bus name."
  }
}

variable "webhook_secret_arn" {
  description = "ARN of an existing Secrets Manager secret whose value is the webhook signing key (whsec_...; Standard Webhooks). The key itself never passes through Terraform. null: none, unless create_webhook_secret."
  type        = string
  default     = null

  validation {
    condition     = var.webhook_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$", var.webhook_secret_arn))
    error_message = "webhook_secret_arn must be null or a Secrets Manager secret ARN."
  }
}

variable "create_webhook_secret" {
  description = "Create an empty secret \"{prefix}-webhook-signing-key\" for the webhook signing key (no value: put it with `aws secretsmanager put-secret-value`, see the README). Exclusive with webhook_secret_arn."
  type        = bool
  default     = false
}

variable "webhook_allowed_hosts" {
  description = "Hosts webhooks may be delivered to: exact host names or \".suffix\" domain suffixes (IMGPIPE_WEBHOOK_ALLOWED_HOSTS). Empty: webhooks off (the API refuses a callback_url). Needs a signing key (webhook_secret_arn or create_webhook_secret)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for host in var.webhook_allowed_hosts : can(regex("^\\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$", host))])
    error_message = "Each allowed webhook host must be a lowercase host name (api.example.com) or a domain suffix starting with a dot (.example.com); no scheme, port, path or \"*\"."
  }
}

variable "webhook_timeout_seconds" {
  description = "How long notify waits for a webhook receiver (IMGPIPE_WEBHOOK_TIMEOUT_SECS, services/pipeline.json webhooks.timeout_secs)."
  type        = number
  default     = 5

  validation {
    condition     = var.webhook_timeout_seconds >= 1 && var.webhook_timeout_seconds <= 25 && floor(var.webhook_timeout_seconds) == var.webhook_timeout_seconds
    error_message = "webhook_timeout_seconds must be a whole number from 1 to 25 (below the notify function's timeout)."
  }
}

variable "quota_images_per_day" {
  description = "Images each owner may submit per day (IMGPIPE_QUOTA_IMAGES_PER_DAY); 0: no quota."
  type        = number
  default     = 0

  validation {
    condition     = var.quota_images_per_day >= 0 && floor(var.quota_images_per_day) == var.quota_images_per_day
    error_message = "quota_images_per_day must be a whole number, 0 (off) or more."
  }
}

variable "upload_grace_seconds" {
  description = "How long after its upload URL expires a job may still wait for its upload before the sweeper ends it (IMGPIPE_PENDING_UPLOAD_TIMEOUT_SECS = presign_expires_seconds + this; services/pipeline.json upload_grace_secs)."
  type        = number
  default     = 900

  validation {
    condition     = var.upload_grace_seconds >= 0 && floor(var.upload_grace_seconds) == var.upload_grace_seconds
    error_message = "upload_grace_seconds must be a whole number of seconds, 0 or more."
  }
}

variable "message_retention_seconds" {
  description = "How long a work queue keeps a message (seconds, default 4 days); part of the sweeper's working timeout."
  type        = number
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds must be from 60 to 1209600 (14 days)."
  }
}

variable "dlq_message_retention_seconds" {
  description = "How long every DLQ keeps a message (seconds, services/pipeline.json queues.*.dlq_retention; 14 days is SQS's maximum)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.dlq_message_retention_seconds >= 60 && var.dlq_message_retention_seconds <= 1209600
    error_message = "dlq_message_retention_seconds must be from 60 to 1209600 (14 days)."
  }
}

variable "point_in_time_recovery_enabled" {
  description = "Point-in-time recovery (continuous backups, 35 days) for the DynamoDB table."
  type        = bool
  default     = true
}

variable "alarm_topic_arn" {
  description = "ARN of an existing SNS topic for every alarm (its policy must let cloudwatch.amazonaws.com publish). null: create \"{prefix}-alarms\" with its own KMS key."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be null or an SNS topic ARN."
  }
}
