# The dev environment: the only place with a provider configuration. Run from this directory:
#   terraform init && terraform apply
# after building the artifacts (see terraform/README.md).

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
  # Artifacts are found relative to the repository root (three levels up from this directory) unless
  # build_dir says otherwise.
  build_dir = coalesce(var.build_dir, "${path.root}/../../../build")

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
      apigatewayv2 = endpoints.value
      cloudwatch   = endpoints.value
      dynamodb     = endpoints.value
      iam          = endpoints.value
      kms          = endpoints.value
      lambda       = endpoints.value
      logs         = endpoints.value
      s3           = endpoints.value
      sns          = endpoints.value
      sqs          = endpoints.value
      sts          = endpoints.value
    }
  }
}

module "imgpipe" {
  source = "../.."

  environment = var.environment

  api_package               = "${local.build_dir}/lambda/x86_64/api/bootstrap.zip"
  preprocess_package        = "${local.build_dir}/lambda/x86_64/preprocess/bootstrap.zip"
  inference_package         = "${local.build_dir}/lambda/x86_64/inference/bootstrap.zip"
  onnxruntime_layer_package = "${local.build_dir}/layers/onnxruntime-x86_64.zip"
  model_layer_package       = "${local.build_dir}/layers/model-fp32.zip"

  api_authorization_mode   = var.api_authorization_mode
  api_jwt_issuer           = var.api_jwt_issuer
  api_jwt_audience         = var.api_jwt_audience
  api_cors_allowed_origins = var.api_cors_allowed_origins
  alarm_email_addresses    = var.alarm_email_addresses

  # A disposable environment: `terraform destroy` removes everything, data included.
  force_destroy               = true
  deletion_protection_enabled = false
  log_retention_days          = 14
}
