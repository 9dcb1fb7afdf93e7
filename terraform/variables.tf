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

variable "api_package" {
  description = "Path of the zip of the api function (a provided.al2023 `bootstrap` at its root), e.g. build/lambda/x86_64/api/bootstrap.zip."
  type        = string

  validation {
    condition     = can(regex("\\.zip$", var.api_package))
    error_message = "api_package must be the path of a .zip file."
  }
}

variable "preprocess_package" {
  description = "Path of the zip of the preprocess function (a provided.al2023 `bootstrap` at its root), e.g. build/lambda/x86_64/preprocess/bootstrap.zip."
  type        = string

  validation {
    condition     = can(regex("\\.zip$", var.preprocess_package))
    error_message = "preprocess_package must be the path of a .zip file."
  }
}

variable "inference_package" {
  description = "Path of the zip of the inference function (a provided.al2023 `bootstrap` at its root), e.g. build/lambda/x86_64/inference/bootstrap.zip."
  type        = string

  validation {
    condition     = can(regex("\\.zip$", var.inference_package))
    error_message = "inference_package must be the path of a .zip file."
  }
}

variable "onnxruntime_layer_package" {
  description = "Path of the ONNX Runtime layer zip (lib/libonnxruntime.so.1 for x86_64), e.g. build/layers/onnxruntime-x86_64.zip."
  type        = string

  validation {
    condition     = can(regex("\\.zip$", var.onnxruntime_layer_package))
    error_message = "onnxruntime_layer_package must be the path of a .zip file."
  }
}

variable "model_layer_package" {
  description = "Path of the model layer zip (model/model.onnx, model/labels.txt, model/model.json), e.g. build/layers/model-fp32.zip."
  type        = string

  validation {
    condition     = can(regex("\\.zip$", var.model_layer_package))
    error_message = "model_layer_package must be the path of a .zip file."
  }
}

variable "api_architecture" {
  description = "Instruction set of the api function: x86_64 or arm64 (pass the package built for it)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.api_architecture)
    error_message = "api_architecture must be x86_64 or arm64."
  }
}

variable "preprocess_architecture" {
  description = "Instruction set of the preprocess function: x86_64 or arm64 (pass the package built for it)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.preprocess_architecture)
    error_message = "preprocess_architecture must be x86_64 or arm64."
  }
}

variable "api_timeout" {
  description = "Timeout of the api function in seconds (services/pipeline.json)."
  type        = number
  default     = 10

  validation {
    condition     = var.api_timeout >= 1 && var.api_timeout <= 900 && floor(var.api_timeout) == var.api_timeout
    error_message = "api_timeout must be a whole number of seconds from 1 to 900."
  }
}

variable "api_memory_size" {
  description = "Memory of the api function in MB (services/pipeline.json); CPU grows with it."
  type        = number
  default     = 256

  validation {
    condition     = var.api_memory_size >= 128 && var.api_memory_size <= 10240 && floor(var.api_memory_size) == var.api_memory_size
    error_message = "api_memory_size must be a whole number of MB from 128 to 10240."
  }
}

variable "api_reserved_concurrency" {
  description = "Reserved concurrency of the api function: both a guarantee and a cap. -1 leaves it unreserved (for accounts whose concurrency quota cannot spare it)."
  type        = number
  default     = 50

  validation {
    condition     = var.api_reserved_concurrency == -1 || (var.api_reserved_concurrency >= 1 && floor(var.api_reserved_concurrency) == var.api_reserved_concurrency)
    error_message = "api_reserved_concurrency must be -1 (unreserved) or a positive integer."
  }
}

variable "preprocess_timeout" {
  description = "Timeout of the preprocess function in seconds (services/pipeline.json)."
  type        = number
  default     = 60

  validation {
    condition     = var.preprocess_timeout >= 1 && var.preprocess_timeout <= 900 && floor(var.preprocess_timeout) == var.preprocess_timeout
    error_message = "preprocess_timeout must be a whole number of seconds from 1 to 900."
  }
}

variable "preprocess_memory_size" {
  description = "Memory of the preprocess function in MB (services/pipeline.json); CPU grows with it."
  type        = number
  default     = 1024

  validation {
    condition     = var.preprocess_memory_size >= 128 && var.preprocess_memory_size <= 10240 && floor(var.preprocess_memory_size) == var.preprocess_memory_size
    error_message = "preprocess_memory_size must be a whole number of MB from 128 to 10240."
  }
}

variable "preprocess_reserved_concurrency" {
  description = "Reserved concurrency of the preprocess function: both a guarantee and a cap. -1 leaves it unreserved (for accounts whose concurrency quota cannot spare it)."
  type        = number
  default     = 20

  validation {
    condition     = var.preprocess_reserved_concurrency == -1 || (var.preprocess_reserved_concurrency >= 1 && floor(var.preprocess_reserved_concurrency) == var.preprocess_reserved_concurrency)
    error_message = "preprocess_reserved_concurrency must be -1 (unreserved) or a positive integer."
  }
}

variable "preprocess_batch_size" {
  description = "Messages per preprocess invocation (services/pipeline.json)."
  type        = number
  default     = 10

  validation {
    condition     = var.preprocess_batch_size >= 1 && var.preprocess_batch_size <= 10000 && floor(var.preprocess_batch_size) == var.preprocess_batch_size
    error_message = "preprocess_batch_size must be an integer from 1 to 10000 (above 10 needs a batching window)."
  }
}

variable "preprocess_batching_window" {
  description = "Seconds the preprocess event source mapping may wait to fill a batch (services/pipeline.json)."
  type        = number
  default     = 0

  validation {
    condition     = var.preprocess_batching_window >= 0 && var.preprocess_batching_window <= 300 && floor(var.preprocess_batching_window) == var.preprocess_batching_window
    error_message = "preprocess_batching_window must be a whole number of seconds from 0 to 300."
  }
}

variable "preprocess_max_concurrency" {
  description = "Most concurrent preprocess invocations the SQS event source mapping starts (scaling_config.maximum_concurrency, services/pipeline.json); at most preprocess_reserved_concurrency."
  type        = number
  default     = 20

  validation {
    condition     = var.preprocess_max_concurrency >= 2 && var.preprocess_max_concurrency <= 1000 && floor(var.preprocess_max_concurrency) == var.preprocess_max_concurrency
    error_message = "preprocess_max_concurrency must be an integer from 2 to 1000 (the limits of scaling_config.maximum_concurrency)."
  }
}

variable "inference_timeout" {
  description = "Timeout of the inference function in seconds (services/pipeline.json)."
  type        = number
  default     = 60

  validation {
    condition     = var.inference_timeout >= 1 && var.inference_timeout <= 900 && floor(var.inference_timeout) == var.inference_timeout
    error_message = "inference_timeout must be a whole number of seconds from 1 to 900."
  }
}

variable "inference_memory_size" {
  description = "Memory of the inference function in MB (services/pipeline.json); CPU grows with it."
  type        = number
  default     = 2048

  validation {
    condition     = var.inference_memory_size >= 128 && var.inference_memory_size <= 10240 && floor(var.inference_memory_size) == var.inference_memory_size
    error_message = "inference_memory_size must be a whole number of MB from 128 to 10240."
  }
}

variable "inference_reserved_concurrency" {
  description = "Reserved concurrency of the inference function: both a guarantee and a cap. -1 leaves it unreserved (for accounts whose concurrency quota cannot spare it)."
  type        = number
  default     = 10

  validation {
    condition     = var.inference_reserved_concurrency == -1 || (var.inference_reserved_concurrency >= 1 && floor(var.inference_reserved_concurrency) == var.inference_reserved_concurrency)
    error_message = "inference_reserved_concurrency must be -1 (unreserved) or a positive integer."
  }
}

variable "inference_batch_size" {
  description = "Messages per inference invocation (services/pipeline.json). At most 25: each message carries its image's 150,528 bytes of pixels, about 200 KB once base64-encoded in the Lambda event, and a whole batch must fit in Lambda's 6 MB invocation payload."
  type        = number
  default     = 8

  validation {
    condition     = var.inference_batch_size >= 1 && var.inference_batch_size <= 25 && floor(var.inference_batch_size) == var.inference_batch_size
    error_message = "inference_batch_size must be an integer from 1 to 25 (above 10 needs a batching window): each message carries about 200 KB of base64-encoded pixels, and a batch must fit in Lambda's 6 MB invocation payload."
  }
}

variable "inference_batching_window" {
  description = "Seconds the inference event source mapping may wait to fill a batch (services/pipeline.json)."
  type        = number
  default     = 1

  validation {
    condition     = var.inference_batching_window >= 0 && var.inference_batching_window <= 300 && floor(var.inference_batching_window) == var.inference_batching_window
    error_message = "inference_batching_window must be a whole number of seconds from 0 to 300."
  }
}

variable "inference_max_concurrency" {
  description = "Most concurrent inference invocations the SQS event source mapping starts (scaling_config.maximum_concurrency, services/pipeline.json); at most inference_reserved_concurrency."
  type        = number
  default     = 10

  validation {
    condition     = var.inference_max_concurrency >= 2 && var.inference_max_concurrency <= 1000 && floor(var.inference_max_concurrency) == var.inference_max_concurrency
    error_message = "inference_max_concurrency must be an integer from 2 to 1000 (the limits of scaling_config.maximum_concurrency)."
  }
}

variable "preprocess_max_receive_count" {
  description = "Deliveries of a preprocess message before it moves to the DLQ (queue redrive maxReceiveCount and the function's IMGPIPE_MAX_RECEIVE_COUNT, services/pipeline.json)."
  type        = number
  default     = 5

  validation {
    condition     = var.preprocess_max_receive_count >= 1 && var.preprocess_max_receive_count <= 1000 && floor(var.preprocess_max_receive_count) == var.preprocess_max_receive_count
    error_message = "preprocess_max_receive_count must be an integer from 1 to 1000."
  }
}

variable "preprocess_dlq_message_retention_seconds" {
  description = "How long the preprocess DLQ keeps a message (seconds, services/pipeline.json; 14 days is SQS's maximum)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.preprocess_dlq_message_retention_seconds >= 60 && var.preprocess_dlq_message_retention_seconds <= 1209600
    error_message = "preprocess_dlq_message_retention_seconds must be from 60 to 1209600 (14 days)."
  }
}

variable "inference_max_receive_count" {
  description = "Deliveries of an inference message before it moves to the DLQ (queue redrive maxReceiveCount and the function's IMGPIPE_MAX_RECEIVE_COUNT, services/pipeline.json)."
  type        = number
  default     = 5

  validation {
    condition     = var.inference_max_receive_count >= 1 && var.inference_max_receive_count <= 1000 && floor(var.inference_max_receive_count) == var.inference_max_receive_count
    error_message = "inference_max_receive_count must be an integer from 1 to 1000."
  }
}

variable "inference_dlq_message_retention_seconds" {
  description = "How long the inference DLQ keeps a message (seconds, services/pipeline.json; 14 days is SQS's maximum)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.inference_dlq_message_retention_seconds >= 60 && var.inference_dlq_message_retention_seconds <= 1209600
    error_message = "inference_dlq_message_retention_seconds must be from 60 to 1209600 (14 days)."
  }
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
  description = "Days an image lives: the DynamoDB TTL the api function sets (IMGPIPE_RETENTION_DAYS) and the expiry of its uploads/ objects."
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

variable "ort_threads" {
  description = "ONNX Runtime intra-op threads of the inference function (IMGPIPE_ORT_THREADS); 0 uses every core the function's memory size buys."
  type        = number
  default     = 0

  validation {
    condition     = var.ort_threads >= 0 && var.ort_threads <= 6 && floor(var.ort_threads) == var.ort_threads
    error_message = "ort_threads must be an integer from 0 to 6 (Lambda has at most 6 vCPUs)."
  }
}

variable "log_level" {
  description = "Application log level of the functions (Lambda advanced logging; the Rust runtime reads it as AWS_LAMBDA_LOG_LEVEL)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.log_level)
    error_message = "log_level must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL."
  }
}

variable "system_log_levels" {
  description = "Lambda platform log level of each function. INFO keeps the per-invocation platform lines (start, report: duration and max memory used, what memory sizing needs); WARN drops them. The api's default is WARN: it runs about four times per image (the POST and the status polls), its platform lines were the largest part of the pipeline's log bill (bench/cost.py), and its durations are in the Lambda metrics anyway."
  type = object({
    api        = string
    preprocess = string
    inference  = string
  })
  default = {
    api        = "WARN"
    preprocess = "INFO"
    inference  = "INFO"
  }

  validation {
    condition     = alltrue([for level in values(var.system_log_levels) : contains(["DEBUG", "INFO", "WARN"], level)])
    error_message = "system_log_levels values must be DEBUG, INFO or WARN."
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
  description = "Who may call the API: \"iam\" (SigV4-signed requests, AWS_IAM), \"jwt\" (bearer tokens from api_jwt_issuer for api_jwt_audience) or \"none\" (anyone: an explicit opt-in for local stacks and demos only)."
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
