data "aws_region" "current" {}

locals {
  # Every name below derives from this prefix.
  name_prefix = "${var.project}-${var.environment}"
  region      = data.aws_region.current.id

  tags = merge(var.tags, {
    Project     = var.project
    Environment = var.environment
  })

  # The S3 key layout the code has built in (services/contract.json s3_prefixes): the bucket's notifications
  # and lifecycle rules and the functions' IAM grants are written against it. Not configurable.
  object_prefixes = {
    uploads = "uploads/"
    ingest  = "ingest/"
    results = "results/"
  }

  # Objects created under these prefixes are announced to these queues (services/contract.json notifications).
  notifications = [
    { prefix = local.object_prefixes.uploads, queue = "preprocess" },
    { prefix = local.object_prefixes.ingest, queue = "preprocess" },
  ]

  # The inference messages carry the model-ready pixels as a binary attribute: their queues, and the DLQs
  # those messages move to, must take messages as large as the code assumes SQS allows (services/contract.json
  # sqs.max_message_bytes); set explicitly because the pipeline depends on it.
  pixel_message_bytes = 262144

  ##############################################################################
  # Functions and models
  ##############################################################################

  api        = var.functions.api
  preprocess = var.functions.preprocess
  sweeper    = var.functions.sweeper
  notify     = var.functions.notify

  # ONNX Runtime threads: always explicit, one per vCPU the memory buys (Lambda gives one per 1,769 MB, at
  # most 6) unless the model says otherwise.
  models = {
    for name, model in var.models : name => merge(model, {
      ort_threads = model.ort_threads != null ? model.ort_threads : min(6, max(1, ceil(model.memory_size / 1769)))
    })
  }
  model_names = sort(keys(local.models))

  # name=weight,... in name order; by default everything goes to the first model by name.
  model_routing = var.model_routing != null ? var.model_routing : { (local.model_names[0]) = 100 }
  model_routing_value = join(",", [
    for name in sort(keys(local.model_routing)) : "${name}=${local.model_routing[name]}"
  ])

  # Function key (the part of the name after the prefix) -> the code it runs (services/contract.json functions).
  function_roles = merge(
    { api = "api", preprocess = "preprocess", sweeper = "sweeper", notify = "notify" },
    { for name in local.model_names : "inference-${name}" => "inference" },
  )

  function_architectures = merge(
    {
      api        = local.api.architecture
      preprocess = local.preprocess.architecture
      sweeper    = local.sweeper.architecture
      notify     = local.notify.architecture
    },
    { for name, model in local.models : "inference-${name}" => model.architecture },
  )

  reserved_concurrency = {
    for key, value in merge(
      {
        api        = local.api.reserved_concurrency
        preprocess = local.preprocess.reserved_concurrency
        sweeper    = local.sweeper.reserved_concurrency
        notify     = local.notify.reserved_concurrency
      },
      { for name, model in local.models : "inference-${name}" => model.reserved_concurrency },
    ) : key => var.reserve_concurrency ? value : -1
  }

  ##############################################################################
  # Queues
  ##############################################################################

  # AWS's rule for Lambda consumers of SQS: a visibility timeout of at least six times the function's timeout,
  # plus the batching window, so that a message is never redelivered while a retry is still running. The DLQs
  # of preprocess and of every model are consumed by the sweeper, and get the same rule for its timeout.
  sweeper_visibility_timeout_seconds = 6 * local.sweeper.timeout + local.sweeper.batching_window

  service_queues = {
    preprocess = {
      visibility_timeout_seconds     = 6 * local.preprocess.timeout + local.preprocess.batching_window
      max_receive_count              = local.preprocess.max_receive_count
      dlq_message_retention_seconds  = var.dlq_message_retention_seconds
      dlq_visibility_timeout_seconds = local.sweeper_visibility_timeout_seconds
      max_message_size               = null
      allow_s3                       = true
    }
    notify = {
      visibility_timeout_seconds     = 6 * local.notify.timeout + local.notify.batching_window
      max_receive_count              = local.notify.max_receive_count
      dlq_message_retention_seconds  = var.dlq_message_retention_seconds
      dlq_visibility_timeout_seconds = 30
      max_message_size               = null
      allow_s3                       = false
    }
  }

  model_queues = {
    for name, model in local.models : "inference-${name}" => {
      visibility_timeout_seconds     = 6 * model.timeout + model.batching_window
      max_receive_count              = model.max_receive_count
      dlq_message_retention_seconds  = var.dlq_message_retention_seconds
      dlq_visibility_timeout_seconds = local.sweeper_visibility_timeout_seconds
      max_message_size               = local.pixel_message_bytes
      allow_s3                       = false
    }
  }

  queues = merge(local.service_queues, local.model_queues)

  # The DLQs the sweeper drains: preprocess and every model's (the notify DLQ only alarms).
  swept_dlqs = concat(["preprocess"], [for name in local.model_names : "inference-${name}"])

  # A job still working after its message could have expired from every queue it passes is stuck for good:
  # the queue's retention plus the longest a message can keep coming back (deliveries x visibility timeout).
  working_timeout_seconds = var.message_retention_seconds + max([
    for key in local.swept_dlqs : local.queues[key].max_receive_count * local.queues[key].visibility_timeout_seconds
  ]...)

  # Upload URLs expire; a job still waiting for its upload after that and a grace period never gets one.
  pending_upload_timeout_seconds = var.presign_expires_seconds + var.upload_grace_seconds

  ##############################################################################
  # Environments (services/contract.json functions.*.environment, exactly)
  ##############################################################################

  # Where the layers put their files: the model layer zip holds model/{model.onnx|model.ort,labels.txt,
  # model.json}, the ONNX Runtime layer zip lib/libonnxruntime.so.1, and Lambda extracts layers under /opt.
  model_dir   = "/opt/model"
  ort_library = "/opt/lib/libonnxruntime.so.1"

  webhook_allowed_hosts = join(",", var.webhook_allowed_hosts)

  function_environment = {
    api = {
      IMGPIPE_TABLE_NAME            = module.storage.table_name
      IMGPIPE_BUCKET_NAME           = module.storage.bucket_name
      IMGPIPE_AUTH_MODE             = var.api_authorization_mode
      IMGPIPE_PRESIGN_EXPIRES_SECS  = tostring(var.presign_expires_seconds)
      IMGPIPE_MAX_INLINE_BYTES      = tostring(var.max_inline_bytes)
      IMGPIPE_MAX_UPLOAD_BYTES      = tostring(var.max_upload_bytes)
      IMGPIPE_RETENTION_DAYS        = tostring(var.retention_days)
      IMGPIPE_MODELS                = jsonencode(local.models_json)
      IMGPIPE_MODEL_ROUTING         = local.model_routing_value
      IMGPIPE_QUOTA_IMAGES_PER_DAY  = tostring(var.quota_images_per_day)
      IMGPIPE_WEBHOOK_ALLOWED_HOSTS = local.webhook_allowed_hosts
    }
    preprocess = {
      IMGPIPE_TABLE_NAME       = module.storage.table_name
      IMGPIPE_BUCKET_NAME      = module.storage.bucket_name
      IMGPIPE_AUTH_MODE        = var.api_authorization_mode
      IMGPIPE_MODELS           = jsonencode(local.models_json_with_queues)
      IMGPIPE_MODEL_ROUTING    = local.model_routing_value
      IMGPIPE_MAX_UPLOAD_BYTES = tostring(var.max_upload_bytes)
      IMGPIPE_MAX_PIXELS       = tostring(var.max_pixels)
      IMGPIPE_RETENTION_DAYS   = tostring(var.retention_days)
      IMGPIPE_EVENT_BUS_NAME   = module.queues.event_bus_name
    }
    sweeper = {
      IMGPIPE_TABLE_NAME                  = module.storage.table_name
      IMGPIPE_BUCKET_NAME                 = module.storage.bucket_name
      IMGPIPE_EVENT_BUS_NAME              = module.queues.event_bus_name
      IMGPIPE_PENDING_UPLOAD_TIMEOUT_SECS = tostring(local.pending_upload_timeout_seconds)
      IMGPIPE_WORKING_TIMEOUT_SECS        = tostring(local.working_timeout_seconds)
    }
    notify = {
      IMGPIPE_TABLE_NAME            = module.storage.table_name
      IMGPIPE_WEBHOOK_SECRET_ARN    = local.webhook_secret_arn == null ? "" : local.webhook_secret_arn
      IMGPIPE_WEBHOOK_ALLOWED_HOSTS = local.webhook_allowed_hosts
      IMGPIPE_WEBHOOK_TIMEOUT_SECS  = tostring(var.webhook_timeout_seconds)
      IMGPIPE_MAX_RECEIVE_COUNT     = tostring(local.notify.max_receive_count)
    }
  }

  # One inference function per model, each with its own thread count.
  inference_environment = {
    for name, model in local.models : name => {
      IMGPIPE_TABLE_NAME     = module.storage.table_name
      IMGPIPE_BUCKET_NAME    = module.storage.bucket_name
      IMGPIPE_MODEL_DIR      = local.model_dir
      IMGPIPE_ORT_LIBRARY    = local.ort_library
      IMGPIPE_ORT_THREADS    = tostring(model.ort_threads)
      IMGPIPE_TOP_K          = tostring(var.top_k)
      IMGPIPE_EVENT_BUS_NAME = module.queues.event_bus_name
    }
  }

  environment = merge(
    local.function_environment,
    { for name, environment in local.inference_environment : "inference-${name}" => environment },
  )

  ##############################################################################
  # What each function module instance gets
  ##############################################################################

  service_functions = {
    api = {
      description           = "imgpipe HTTP API: creates image jobs and returns their status and predictions"
      timeout               = local.api.timeout
      memory_size           = local.api.memory_size
      system_log_level      = local.api.system_log_level
      layers                = []
      event_source_mappings = {}
      schedule              = null
    }
    preprocess = {
      description      = "imgpipe preprocess: decodes an upload or ingest object and sends its pixels to a model's queue"
      timeout          = local.preprocess.timeout
      memory_size      = local.preprocess.memory_size
      system_log_level = local.preprocess.system_log_level
      layers           = []
      event_source_mappings = {
        preprocess = {
          queue_arn       = module.queues.queue_arns["preprocess"]
          batch_size      = local.preprocess.batch_size
          batching_window = local.preprocess.batching_window
          max_concurrency = local.preprocess.max_concurrency
        }
      }
      schedule = null
    }
    sweeper = {
      description      = "imgpipe sweeper: ends the jobs whose messages died in a DLQ and the jobs left behind"
      timeout          = local.sweeper.timeout
      memory_size      = local.sweeper.memory_size
      system_log_level = local.sweeper.system_log_level
      layers           = []
      event_source_mappings = {
        for key in local.swept_dlqs : "${key}-dlq" => {
          queue_arn       = module.queues.dlq_arns[key]
          batch_size      = local.sweeper.batch_size
          batching_window = local.sweeper.batching_window
          max_concurrency = local.sweeper.max_concurrency
        }
      }
      schedule = {
        expression = local.sweeper.schedule
        input      = jsonencode({ sweep = "scheduled" })
      }
    }
    notify = {
      description      = "imgpipe notify: delivers signed webhooks for finished images"
      timeout          = local.notify.timeout
      memory_size      = local.notify.memory_size
      system_log_level = local.notify.system_log_level
      layers           = []
      event_source_mappings = {
        notify = {
          queue_arn       = module.queues.queue_arns["notify"]
          batch_size      = local.notify.batch_size
          batching_window = local.notify.batching_window
          max_concurrency = local.notify.max_concurrency
        }
      }
      schedule = null
    }
  }

  model_functions = {
    for name, model in local.models : "inference-${name}" => {
      description      = "imgpipe inference: classifies the pixels of a batch of messages with ${name} (${model.variant}) on ONNX Runtime"
      timeout          = model.timeout
      memory_size      = model.memory_size
      system_log_level = "INFO"
      layers           = [aws_lambda_layer_version.onnxruntime[model.architecture].arn, aws_lambda_layer_version.model[name].arn]
      event_source_mappings = {
        queue = {
          queue_arn       = module.queues.queue_arns["inference-${name}"]
          batch_size      = model.batch_size
          batching_window = model.batching_window
          max_concurrency = model.max_concurrency
        }
      }
      schedule = null
    }
  }

  function_settings = merge(local.service_functions, local.model_functions)
}

################################################################################
# Storage, queues and events
################################################################################

module "storage" {
  source = "./modules/storage"

  name_prefix     = local.name_prefix
  object_prefixes = local.object_prefixes
  notifications = [
    for n in local.notifications : {
      prefix     = n.prefix
      queue_name = n.queue
      queue_arn  = module.queues.queue_arns[n.queue]
    }
  ]
  cors_allowed_origins           = var.api_cors_allowed_origins
  kms_key_arn                    = var.kms_key_arn
  force_destroy                  = var.force_destroy
  object_expiration_days         = var.retention_days
  deletion_protection_enabled    = var.deletion_protection_enabled
  point_in_time_recovery_enabled = var.point_in_time_recovery_enabled

  tags = local.tags
}

module "queues" {
  source = "./modules/queues"

  name_prefix                      = local.name_prefix
  queues                           = local.queues
  bucket_arn                       = module.storage.bucket_arn
  message_retention_seconds        = var.message_retention_seconds
  event_bus_name                   = var.event_bus_name
  webhook_queue                    = "notify"
  failed_images_log_retention_days = var.log_retention_days
  log_kms_key_arn                  = var.log_kms_key_arn

  tags = local.tags
}

# The webhook signing key lives in Secrets Manager only. Created empty on request: Terraform never sees the
# value (aws secretsmanager put-secret-value --secret-id <arn> --secret-string whsec_...).
resource "aws_secretsmanager_secret" "webhook" {
  #checkov:skip=CKV_AWS_149:The AWS managed key aws/secretsmanager encrypts it; a customer managed key would need one more KMS grant on the notify role that the contract does not list.
  #checkov:skip=CKV2_AWS_57:The signing key is shared with the webhook receivers; rotating it is a coordinated change with them (Standard Webhooks allows two keys during a rotation), not an automatic Lambda rotation.
  count = var.create_webhook_secret ? 1 : 0

  name                    = "${local.name_prefix}-webhook-signing-key"
  description             = "Standard Webhooks signing key (whsec_...) of ${local.name_prefix}; the value is put with the CLI, never by Terraform"
  recovery_window_in_days = 7

  tags = local.tags
}

locals {
  webhook_secret_arn = var.create_webhook_secret ? aws_secretsmanager_secret.webhook[0].arn : var.webhook_secret_arn
}

################################################################################
# Functions: api, preprocess, sweeper, notify and one inference function per model
################################################################################

module "function" {
  source   = "./modules/compute"
  for_each = local.function_settings

  function_name         = "${local.name_prefix}-${each.key}"
  description           = each.value.description
  filename              = "${local.artifacts_dir}/${local.function_packages[each.key]}"
  architecture          = local.function_architectures[each.key]
  timeout               = each.value.timeout
  memory_size           = each.value.memory_size
  reserved_concurrency  = local.reserved_concurrency[each.key]
  layers                = each.value.layers
  environment_variables = local.environment[each.key]
  policy_statements     = local.policy_statements[each.key]
  event_source_mappings = each.value.event_source_mappings
  schedule              = each.value.schedule

  log_level                     = var.log_level
  system_log_level              = each.value.system_log_level
  log_retention_days            = var.log_retention_days
  log_kms_key_arn               = var.log_kms_key_arn
  role_permissions_boundary_arn = var.role_permissions_boundary_arn

  tags = local.tags
}

################################################################################
# API and monitoring
################################################################################

module "api" {
  source = "./modules/api"

  name_prefix         = local.name_prefix
  function_name       = module.function["api"].function_name
  function_invoke_arn = module.function["api"].invoke_arn
  authorization_mode  = var.api_authorization_mode

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
  function_names    = { for key, function in module.function : key => function.function_name }
  function_timeouts = { for key, function in module.function : key => function.timeout }
  queue_names       = module.queues.queue_names
  dlq_names         = module.queues.dlq_names
  consumed_dlqs     = local.swept_dlqs
  model_names       = local.model_names
  api_id            = module.api.api_id
  table_name        = module.storage.table_name
  table_index_names = module.storage.table_index_names

  alarm_topic_arn       = var.alarm_topic_arn
  alarm_email_addresses = var.alarm_email_addresses
  create_kms_key        = var.alarm_topic_kms_key_arn == null
  kms_key_arn           = var.alarm_topic_kms_key_arn

  tags = local.tags
}

################################################################################
# Settings that span variables (Terraform < 1.9 validates each variable alone)
################################################################################

locals {
  # "prod", "production" or "live" as the environment name or a hyphen-separated part of it (prod-eu, eu-live).
  production_like = can(regex("(^|-)(prod|production|live)(-|$)", var.environment))
}

resource "terraform_data" "configuration" {
  lifecycle {
    # The API fails closed: open to anyone only as an explicit choice, and never in production.
    precondition {
      condition     = var.api_authorization_mode != "none" || var.allow_unauthenticated
      error_message = "api_authorization_mode = \"none\" lets anyone call the API: set allow_unauthenticated = true to mean it (never in production)."
    }

    precondition {
      condition     = var.api_authorization_mode != "none" || !local.production_like
      error_message = "api_authorization_mode = \"none\" is refused for the environment \"${var.environment}\" (prod, production and live always need iam or jwt), whatever allow_unauthenticated says."
    }

    precondition {
      condition     = var.model_routing == null || try(length(setsubtract(keys(var.model_routing), keys(var.models))) == 0, false)
      error_message = "model_routing names models that are not deployed: ${var.model_routing == null ? "" : join(", ", setsubtract(keys(var.model_routing), keys(var.models)))} (models: ${join(", ", keys(var.models))})."
    }

    precondition {
      condition     = !(var.create_webhook_secret && var.webhook_secret_arn != null)
      error_message = "Set either webhook_secret_arn (an existing secret) or create_webhook_secret = true, not both."
    }

    precondition {
      condition     = length(var.webhook_allowed_hosts) == 0 || var.create_webhook_secret || var.webhook_secret_arn != null
      error_message = "webhook_allowed_hosts turns webhooks on, which needs a signing key: set webhook_secret_arn or create_webhook_secret = true."
    }

    precondition {
      # Function names are at most 64 characters: "{prefix}-inference-{model}" is the longest.
      condition     = alltrue([for key in keys(local.function_roles) : length("${local.name_prefix}-${key}") <= 64])
      error_message = "Function names over 64 characters: ${join(", ", [for key in keys(local.function_roles) : "${local.name_prefix}-${key}" if length("${local.name_prefix}-${key}") > 64])}. Shorten the project, environment or model names."
    }
  }
}
