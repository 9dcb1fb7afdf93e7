# The AWS calls each function's code makes, and on what: services/contract.json `functions.*.permissions`,
# kept here as data (tools/checks/test_terraform.py fails when the two differ) and turned into one Allow
# statement per grant, on exact ARNs, by the resource kinds below.
#
# Resource kinds: table, table_indexes, bucket_prefix:<p> (objects under the prefix), bucket_list:<p> (the
# bucket, listing limited to the prefix by an s3:prefix condition), queue:<name> (preprocess, notify;
# inference = the function's own model queue; inference:* = every model's queue; dlq:* = the DLQs of
# preprocess and of every model), event_bus, secret:webhook.
locals {
  permissions = {
    api = [
      { actions = ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], resource = "table" },
      { actions = ["dynamodb:Query"], resource = "table_indexes" },
      { actions = ["s3:DeleteObjectVersion", "s3:PutObject"], resource = "bucket_prefix:uploads/" },
      { actions = ["s3:DeleteObjectVersion"], resource = "bucket_prefix:ingest/" },
      { actions = ["s3:DeleteObjectVersion"], resource = "bucket_prefix:results/" },
      { actions = ["s3:ListBucketVersions"], resource = "bucket_list:uploads/" },
      { actions = ["s3:ListBucketVersions"], resource = "bucket_list:ingest/" },
      { actions = ["s3:ListBucketVersions"], resource = "bucket_list:results/" },
    ]
    preprocess = [
      { actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], resource = "table" },
      { actions = ["s3:GetObjectVersion"], resource = "bucket_prefix:uploads/" },
      { actions = ["s3:GetObjectVersion"], resource = "bucket_prefix:ingest/" },
      { actions = ["s3:DeleteObjectVersion"], resource = "bucket_prefix:uploads/" },
      { actions = ["s3:PutObject"], resource = "bucket_prefix:results/" },
      { actions = ["sqs:SendMessage"], resource = "queue:inference:*" },
      { actions = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"], resource = "queue:preprocess" },
      { actions = ["events:PutEvents"], resource = "event_bus" },
    ]
    inference = [
      { actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"], resource = "table" },
      { actions = ["s3:PutObject"], resource = "bucket_prefix:results/" },
      { actions = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"], resource = "queue:inference" },
      { actions = ["events:PutEvents"], resource = "event_bus" },
    ]
    sweeper = [
      { actions = ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:UpdateItem"], resource = "table" },
      { actions = ["dynamodb:Query"], resource = "table_indexes" },
      { actions = ["s3:GetObject"], resource = "bucket_prefix:uploads/" },
      { actions = ["s3:PutObject"], resource = "bucket_prefix:results/" },
      { actions = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"], resource = "queue:dlq:*" },
      { actions = ["events:PutEvents"], resource = "event_bus" },
    ]
    notify = [
      { actions = ["dynamodb:UpdateItem"], resource = "table" },
      { actions = ["secretsmanager:GetSecretValue"], resource = "secret:webhook" },
      { actions = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"], resource = "queue:notify" },
    ]
  }

  # The ARNs of each resource kind ("queue:inference" is resolved per function, below).
  fixed_grant_resources = {
    "table"             = [module.storage.table_arn]
    "table_indexes"     = module.storage.table_index_arns
    "event_bus"         = [module.queues.event_bus_arn]
    "secret:webhook"    = local.webhook_secret_arn == null ? [] : [local.webhook_secret_arn]
    "queue:preprocess"  = [module.queues.queue_arns["preprocess"]]
    "queue:notify"      = [module.queues.queue_arns["notify"]]
    "queue:inference:*" = [for name in local.model_names : module.queues.queue_arns["inference-${name}"]]
    "queue:dlq:*"       = [for key in local.swept_dlqs : module.queues.dlq_arns[key]]
  }
  object_grant_resources = merge(
    { for prefix in values(local.object_prefixes) : "bucket_prefix:${prefix}" => ["${module.storage.bucket_arn}/${prefix}*"] },
    { for prefix in values(local.object_prefixes) : "bucket_list:${prefix}" => [module.storage.bucket_arn] },
  )
  grant_resources = merge(local.fixed_grant_resources, local.object_grant_resources)

  # With a customer managed key on the bucket, SSE-KMS needs GenerateDataKey to write an object and Decrypt to
  # read one: only the functions that touch objects get the key through S3, and only as far as their object
  # grants go (notify touches none).
  kms_via_s3 = {
    api        = ["kms:GenerateDataKey"]
    preprocess = ["kms:Decrypt", "kms:GenerateDataKey"]
    inference  = ["kms:GenerateDataKey"]
    sweeper    = ["kms:Decrypt", "kms:GenerateDataKey"]
    notify     = []
  }

  # On a table under a customer managed key, DynamoDB uses the caller's permissions on the key to unwrap the
  # table key; every function reads or writes items.
  kms_via_dynamodb = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]

  kms_statements = {
    for key, role in local.function_roles : key => [
      for statement in [
        {
          sid        = "UseKeyThroughS3"
          actions    = local.kms_via_s3[role]
          resources  = [var.kms_key_arn]
          conditions = [{ test = "StringEquals", variable = "kms:ViaService", values = ["s3.${local.region}.amazonaws.com"] }]
        },
        {
          sid        = "UseKeyThroughDynamoDb"
          actions    = local.kms_via_dynamodb
          resources  = [var.kms_key_arn]
          conditions = [{ test = "StringEquals", variable = "kms:ViaService", values = ["dynamodb.${local.region}.amazonaws.com"] }]
        },
      ] : statement if var.kms_key_arn != null && length(statement.actions) > 0
    ]
  }

  # One statement per grant; the sid numbers the grant and names its resource kind (Grant03BucketPrefixIngest).
  # A grant on the webhook secret is left out while there is no secret (webhooks off).
  policy_statements = {
    for key, role in local.function_roles : key => concat(
      [
        for index, grant in local.permissions[role] : {
          sid       = format("Grant%02d%s", index, replace(title(replace(grant.resource, "/[^a-z0-9]+/", " ")), " ", ""))
          actions   = grant.actions
          resources = grant.resource == "queue:inference" ? [module.queues.queue_arns[key]] : local.grant_resources[grant.resource]
          conditions = [
            for prefix in [trimprefix(grant.resource, "bucket_list:")] : {
              test     = "StringLike"
              variable = "s3:prefix"
              values   = ["${prefix}*"]
            } if startswith(grant.resource, "bucket_list:")
          ]
        } if !(grant.resource == "secret:webhook" && local.webhook_secret_arn == null)
      ],
      local.kms_statements[key],
    )
  }
}
