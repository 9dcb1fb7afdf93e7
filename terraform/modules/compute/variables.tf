variable "name_prefix" {
  description = "Prefix of every name, \"{project}-{environment}\". Functions, roles and layers are \"{name_prefix}-{api|preprocess|inference}\", log groups \"/aws/lambda/{function name}\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,48}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-50 characters of lowercase letters, digits and hyphens, starting and ending with a letter or digit (function and role names are at most 64 characters)."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module (on top of the provider's default_tags)."
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

variable "inference_architecture" {
  description = "Instruction set of the inference function. Only x86_64: the arm64 ONNX Runtime build aborts on Lambda, where /sys/devices/system/cpu/possible is missing."
  type        = string
  default     = "x86_64"

  validation {
    condition     = var.inference_architecture == "x86_64"
    error_message = "inference_architecture must be x86_64: the arm64 ONNX Runtime aborts on Lambda because /sys/devices/system/cpu/possible is missing there."
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

variable "preprocess_max_receive_count" {
  description = "The preprocess queue's redrive maxReceiveCount, passed as IMGPIPE_MAX_RECEIVE_COUNT so the function knows its last attempt. Must equal the queue's setting."
  type        = number
  default     = 5

  validation {
    condition     = var.preprocess_max_receive_count >= 1 && var.preprocess_max_receive_count <= 1000 && floor(var.preprocess_max_receive_count) == var.preprocess_max_receive_count
    error_message = "preprocess_max_receive_count must be an integer from 1 to 1000."
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

variable "inference_max_receive_count" {
  description = "The inference queue's redrive maxReceiveCount, passed as IMGPIPE_MAX_RECEIVE_COUNT so the function knows its last attempt. Must equal the queue's setting."
  type        = number
  default     = 5

  validation {
    condition     = var.inference_max_receive_count >= 1 && var.inference_max_receive_count <= 1000 && floor(var.inference_max_receive_count) == var.inference_max_receive_count
    error_message = "inference_max_receive_count must be an integer from 1 to 1000."
  }
}

variable "bucket_name" {
  description = "Name of the image bucket (IMGPIPE_BUCKET_NAME of the api and preprocess functions; inference reads no object)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name."
  }
}

variable "bucket_arn" {
  description = "ARN of the image bucket; object grants are scoped to its prefixes."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_arn))
    error_message = "bucket_arn must be an S3 bucket ARN (arn:aws:s3:::NAME)."
  }
}

variable "object_prefixes" {
  description = "S3 key prefixes the code uses (services/core/src/keys.rs); the IAM grants are scoped to them."
  type = object({
    uploads = string
  })
  default = {
    uploads = "uploads/"
  }

  validation {
    condition     = alltrue([for prefix in values(var.object_prefixes) : can(regex("^[a-z0-9-]+/$", prefix))])
    error_message = "Each prefix must be lowercase letters, digits or hyphens followed by a single \"/\"."
  }
}

variable "table_name" {
  description = "Name of the DynamoDB table (IMGPIPE_TABLE_NAME)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.table_name))
    error_message = "table_name must be a valid DynamoDB table name."
  }
}

variable "table_arn" {
  description = "ARN of the DynamoDB table; item grants are scoped to it."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]{3,255}$", var.table_arn))
    error_message = "table_arn must be a DynamoDB table ARN."
  }
}

variable "table_index_arns" {
  description = "ARNs of the table's global secondary indexes (status and owner); the api function may Query them, and nothing else may."
  type        = list(string)

  validation {
    condition     = length(var.table_index_arns) > 0 && alltrue([for arn in var.table_index_arns : can(regex("^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]{3,255}/index/[A-Za-z0-9_.-]{3,255}$", arn))])
    error_message = "table_index_arns must be a non-empty list of DynamoDB index ARNs (…:table/NAME/index/INDEX)."
  }
}

variable "preprocess_queue_arn" {
  description = "ARN of the preprocess queue, drained by the preprocess function."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}$", var.preprocess_queue_arn))
    error_message = "preprocess_queue_arn must be an SQS queue ARN."
  }
}

variable "inference_queue_arn" {
  description = "ARN of the inference queue: the preprocess function sends to it, the inference function drains it."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}$", var.inference_queue_arn))
    error_message = "inference_queue_arn must be an SQS queue ARN."
  }
}

variable "inference_queue_url" {
  description = "URL of the inference queue (IMGPIPE_INFERENCE_QUEUE_URL of the preprocess function)."
  type        = string

  validation {
    condition     = can(regex("^https?://", var.inference_queue_url))
    error_message = "inference_queue_url must be a queue URL."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer managed KMS key of the bucket and the table, if any: the functions then get the KMS actions they need, only through S3 and DynamoDB (kms:ViaService). null: no KMS grants."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-f0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
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
  description = "Days an image record lives before DynamoDB's TTL removes it (IMGPIPE_RETENTION_DAYS)."
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
