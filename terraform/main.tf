locals {
  # Every name below derives from this prefix.
  name_prefix = "${var.project}-${var.environment}"

  tags = merge(var.tags, {
    Project     = var.project
    Environment = var.environment
  })

  # The S3 key layout of services/core/src/keys.rs: the bucket's notification and lifecycle rules and the
  # functions' IAM grants are written against it. Not configurable, since the code has it built in. Only
  # uploads live in S3: the model-ready pixels travel to inference inside the SQS message.
  object_prefixes = {
    uploads = "uploads/"
  }

  # AWS's rule for Lambda consumers of SQS: a visibility timeout of at least six times the function's
  # timeout, plus the batching window, so a message is never redelivered while a retry is still running.
  visibility_timeout_seconds = {
    preprocess = 6 * var.preprocess_timeout + var.preprocess_batching_window
    inference  = 6 * var.inference_timeout + var.inference_batching_window
  }
}

module "storage" {
  source = "./modules/storage"

  name_prefix                   = local.name_prefix
  object_prefixes               = local.object_prefixes
  upload_notification_queue_arn = module.queues.preprocess_queue_arn
  cors_allowed_origins          = var.api_cors_allowed_origins
  kms_key_arn                   = var.kms_key_arn
  force_destroy                 = var.force_destroy
  object_expiration_days        = var.retention_days
  deletion_protection_enabled   = var.deletion_protection_enabled

  tags = local.tags
}

module "queues" {
  source = "./modules/queues"

  name_prefix = local.name_prefix
  bucket_arn  = module.storage.bucket_arn

  preprocess_visibility_timeout_seconds    = local.visibility_timeout_seconds.preprocess
  preprocess_max_receive_count             = var.preprocess_max_receive_count
  preprocess_dlq_message_retention_seconds = var.preprocess_dlq_message_retention_seconds
  inference_visibility_timeout_seconds     = local.visibility_timeout_seconds.inference
  inference_max_receive_count              = var.inference_max_receive_count
  inference_dlq_message_retention_seconds  = var.inference_dlq_message_retention_seconds

  tags = local.tags
}

module "compute" {
  source = "./modules/compute"

  name_prefix = local.name_prefix

  api_package               = var.api_package
  preprocess_package        = var.preprocess_package
  inference_package         = var.inference_package
  onnxruntime_layer_package = var.onnxruntime_layer_package
  model_layer_package       = var.model_layer_package

  api_architecture        = var.api_architecture
  preprocess_architecture = var.preprocess_architecture

  api_timeout                     = var.api_timeout
  api_memory_size                 = var.api_memory_size
  api_reserved_concurrency        = var.api_reserved_concurrency
  preprocess_timeout              = var.preprocess_timeout
  preprocess_memory_size          = var.preprocess_memory_size
  preprocess_reserved_concurrency = var.preprocess_reserved_concurrency
  preprocess_batch_size           = var.preprocess_batch_size
  preprocess_batching_window      = var.preprocess_batching_window
  preprocess_max_concurrency      = var.preprocess_max_concurrency
  preprocess_max_receive_count    = var.preprocess_max_receive_count
  inference_timeout               = var.inference_timeout
  inference_memory_size           = var.inference_memory_size
  inference_reserved_concurrency  = var.inference_reserved_concurrency
  inference_batch_size            = var.inference_batch_size
  inference_batching_window       = var.inference_batching_window
  inference_max_concurrency       = var.inference_max_concurrency
  inference_max_receive_count     = var.inference_max_receive_count

  bucket_name          = module.storage.bucket_name
  bucket_arn           = module.storage.bucket_arn
  object_prefixes      = local.object_prefixes
  table_name           = module.storage.table_name
  table_arn            = module.storage.table_arn
  table_index_arns     = module.storage.table_index_arns
  preprocess_queue_arn = module.queues.preprocess_queue_arn
  inference_queue_arn  = module.queues.inference_queue_arn
  inference_queue_url  = module.queues.inference_queue_url
  kms_key_arn          = var.kms_key_arn

  presign_expires_seconds = var.presign_expires_seconds
  max_inline_bytes        = var.max_inline_bytes
  max_upload_bytes        = var.max_upload_bytes
  max_pixels              = var.max_pixels
  retention_days          = var.retention_days
  top_k                   = var.top_k
  ort_threads             = var.ort_threads

  log_level                     = var.log_level
  system_log_levels             = var.system_log_levels
  log_retention_days            = var.log_retention_days
  log_kms_key_arn               = var.log_kms_key_arn
  role_permissions_boundary_arn = var.role_permissions_boundary_arn

  tags = local.tags
}

module "api" {
  source = "./modules/api"

  name_prefix         = local.name_prefix
  function_name       = module.compute.api_function_name
  function_invoke_arn = module.compute.api_function_invoke_arn

  authorization_mode       = var.api_authorization_mode
  jwt_issuer               = var.api_jwt_issuer
  jwt_audience             = var.api_jwt_audience
  jwt_authorization_scopes = var.api_jwt_authorization_scopes
  cors_allowed_origins     = var.api_cors_allowed_origins
  throttling_rate_limit    = var.api_throttling_rate_limit
  throttling_burst_limit   = var.api_throttling_burst_limit

  access_log_retention_days = var.log_retention_days
  log_kms_key_arn           = var.log_kms_key_arn

  tags = local.tags
}

module "monitoring" {
  source = "./modules/monitoring"

  name_prefix       = local.name_prefix
  function_names    = module.compute.function_names
  function_timeouts = module.compute.function_timeouts
  queue_names       = module.queues.queue_names
  dlq_names         = module.queues.dlq_names
  api_id            = module.api.api_id
  table_name        = module.storage.table_name
  table_index_names = module.storage.table_index_names

  alarm_email_addresses = var.alarm_email_addresses
  create_kms_key        = var.alarm_topic_kms_key_arn == null
  kms_key_arn           = var.alarm_topic_kms_key_arn

  tags = local.tags
}
