# The dev environment: a disposable deployment with a provider configuration. Run from this directory:
#   terraform init && terraform apply
# after building the artifacts (make package, see terraform/README.md).

terraform {
  # State stays local by default. To share it, keep it in S3 with S3-native locking (Terraform >= 1.10):
  # backend "s3" {
  #   bucket       = "my-terraform-state-123456789012"
  #   key          = "imgpipe/dev/terraform.tfstate"
  #   region       = "eu-west-1"
  #   encrypt      = true
  #   use_lockfile = true
  # }
}

locals {
  # Emulators (moto, LocalStack) serve every service on one endpoint.
  emulator_services = var.endpoint_url == null ? [] : [var.endpoint_url]
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

  # Only against an emulator: no real credentials, no account lookups through the metadata API, and
  # path-style S3 addressing (an emulator on localhost has no per-bucket host names).
  skip_credentials_validation = var.endpoint_url != null
  skip_metadata_api_check     = var.endpoint_url != null
  s3_use_path_style           = var.endpoint_url != null

  dynamic "endpoints" {
    for_each = local.emulator_services

    content {
      apigatewayv2   = endpoints.value
      cloudwatch     = endpoints.value
      dynamodb       = endpoints.value
      events         = endpoints.value
      iam            = endpoints.value
      kms            = endpoints.value
      lambda         = endpoints.value
      logs           = endpoints.value
      s3             = endpoints.value
      secretsmanager = endpoints.value
      sns            = endpoints.value
      sqs            = endpoints.value
      sts            = endpoints.value
    }
  }
}

module "imgpipe" {
  source = "../.."

  environment = var.environment

  # null: <repo>/build/artifacts, where make package writes the zips and manifest.json.
  artifacts_dir = var.artifacts_dir
  models        = var.models

  api_authorization_mode   = var.api_authorization_mode
  allow_unauthenticated    = var.allow_unauthenticated
  api_jwt_issuer           = var.api_jwt_issuer
  api_jwt_audience         = var.api_jwt_audience
  api_cors_allowed_origins = var.api_cors_allowed_origins
  alarm_email_addresses    = var.alarm_email_addresses

  # New accounts start with a Lambda concurrency quota of 10, too little to reserve any.
  reserve_concurrency = !var.new_account

  quota_images_per_day  = var.quota_images_per_day
  webhook_allowed_hosts = var.webhook_allowed_hosts
  create_webhook_secret = var.create_webhook_secret

  # A disposable environment: `terraform destroy` removes everything, data included.
  force_destroy                  = true
  deletion_protection_enabled    = false
  point_in_time_recovery_enabled = false
  log_retention_days             = 14
}
