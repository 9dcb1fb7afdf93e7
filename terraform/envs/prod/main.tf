# The production environment: protected data, a customer managed key, a year of logs, alarms to people, and
# an API that always authenticates. Run from this directory:
#   terraform init && terraform apply
# after building the artifacts (make package, see terraform/README.md).

terraform {
  # Keep production state in S3 with S3-native locking (Terraform >= 1.10); fill in and uncomment before the
  # first apply:
  # backend "s3" {
  #   bucket       = "my-terraform-state-123456789012"
  #   key          = "imgpipe/prod/terraform.tfstate"
  #   region       = "eu-west-1"
  #   encrypt      = true
  #   use_lockfile = true
  # }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "imgpipe"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.id
}

################################################################################
# The customer managed key of the images: bucket (SSE-KMS), table, and every log group
################################################################################

resource "aws_kms_key" "storage" {
  description             = "imgpipe-${var.environment}: images, table and logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.storage_key.json
}

resource "aws_kms_alias" "storage" {
  name          = "alias/imgpipe-${var.environment}-storage"
  target_key_id = aws_kms_key.storage.key_id
}

data "aws_iam_policy_document" "storage_key" {
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means "this key" (the policy is attached to exactly one key).
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means "this key"; the account-root statement delegates its administration to IAM, as the AWS default key policy does.
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means "this key"; the account-root statement delegates its use to IAM (the functions' roles get it only through S3 and DynamoDB).

  statement {
    # The AWS default key policy gives the account root kms:*; the actions are listed instead so that no
    # wildcard action appears. The functions' roles are granted the key by their own policies (kms:ViaService).
    sid = "AccountAdministersThroughIam"
    actions = [
      "kms:CancelKeyDeletion",
      "kms:CreateAlias",
      "kms:CreateGrant",
      "kms:Decrypt",
      "kms:DeleteAlias",
      "kms:DescribeKey",
      "kms:DisableKey",
      "kms:DisableKeyRotation",
      "kms:EnableKey",
      "kms:EnableKeyRotation",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListGrants",
      "kms:ListKeyPolicies",
      "kms:ListKeyRotations",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
      "kms:RetireGrant",
      "kms:RevokeGrant",
      "kms:RotateKeyOnDemand",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateAlias",
      "kms:UpdateKeyDescription",
    ]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    # CloudWatch Logs encrypts the log groups of this account with the key, and only those.
    sid = "CloudWatchLogsEncryptsLogGroups"
    actions = [
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }
}

################################################################################
# The pipeline
################################################################################

module "imgpipe" {
  source = "../.."

  environment = var.environment

  # null: <repo>/build/artifacts, where make package writes the zips and manifest.json.
  artifacts_dir = var.artifacts_dir
  models        = var.models
  model_routing = var.model_routing

  # Authenticated only: there is no allow_unauthenticated here, and api_authorization_mode refuses "none".
  api_authorization_mode       = var.api_authorization_mode
  api_jwt_issuer               = var.api_jwt_issuer
  api_jwt_audience             = var.api_jwt_audience
  api_jwt_authorization_scopes = var.api_jwt_authorization_scopes
  api_cors_allowed_origins     = var.api_cors_allowed_origins

  # Data is kept, protected and recoverable.
  kms_key_arn                    = aws_kms_key.storage.arn
  log_kms_key_arn                = aws_kms_key.storage.arn
  deletion_protection_enabled    = true
  point_in_time_recovery_enabled = true
  force_destroy                  = false
  log_retention_days             = 365

  # Alarms reach people: by email, or through an existing topic (paging, chat).
  alarm_email_addresses = var.alarm_email_addresses
  alarm_topic_arn       = var.alarm_topic_arn

  quota_images_per_day  = var.quota_images_per_day
  webhook_allowed_hosts = var.webhook_allowed_hosts
  webhook_secret_arn    = var.webhook_secret_arn
}

check "alarms_reach_someone" {
  assert {
    condition     = length(var.alarm_email_addresses) > 0 || var.alarm_topic_arn != null
    error_message = "Production alarms notify nobody: set alarm_email_addresses or alarm_topic_arn."
  }
}
