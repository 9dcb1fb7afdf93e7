# `terraform test` (Terraform >= 1.7, run from terraform/): settings other than the defaults, and the
# configurations the plan must refuse. Same mocked AWS provider and stand-in artifacts as defaults.tftest.hcl.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
      arn        = "arn:aws:iam::123456789012:user/test"
      user_id    = "AIDATEST"
    }
  }

  mock_data "aws_region" {
    defaults = {
      id   = "eu-west-1"
      name = "eu-west-1"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition  = "aws"
      dns_suffix = "amazonaws.com"
    }
  }

  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  mock_resource "aws_s3_bucket" {
    defaults = {
      arn = "arn:aws:s3:::imgpipe-test-images-123456789012"
    }
  }

  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:eu-west-1:123456789012:imgpipe-test-queue"
      url = "https://sqs.eu-west-1.amazonaws.com/123456789012/imgpipe-test-queue"
    }
  }

  mock_resource "aws_dynamodb_table" {
    defaults = {
      arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/imgpipe-test-images"
    }
  }

  mock_resource "aws_cloudwatch_event_bus" {
    defaults = {
      arn = "arn:aws:events:eu-west-1:123456789012:event-bus/imgpipe-test-events"
    }
  }

  mock_resource "aws_cloudwatch_event_rule" {
    defaults = {
      arn = "arn:aws:events:eu-west-1:123456789012:rule/imgpipe-test-rule"
    }
  }

  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/imgpipe-test"
    }
  }

  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/imgpipe-test"
    }
  }

  mock_resource "aws_lambda_function" {
    defaults = {
      arn        = "arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-test"
      invoke_arn = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-test/invocations"
    }
  }

  mock_resource "aws_lambda_layer_version" {
    defaults = {
      arn = "arn:aws:lambda:eu-west-1:123456789012:layer:imgpipe-test:1"
    }
  }

  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-4000-8000-000000000000"
    }
  }

  mock_resource "aws_sns_topic" {
    defaults = {
      arn = "arn:aws:sns:eu-west-1:123456789012:imgpipe-test-alarms"
    }
  }

  mock_resource "aws_apigatewayv2_api" {
    defaults = {
      id            = "a1b2c3d4e5"
      api_endpoint  = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"
      execution_arn = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5"
    }
  }

  mock_resource "aws_secretsmanager_secret" {
    defaults = {
      arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:imgpipe-test-webhook-signing-key-AbCdEf"
    }
  }
}

variables {
  environment   = "test"
  artifacts_dir = "./tests/fixtures/artifacts"
}

run "two_models_one_on_arm64" {
  command = apply

  variables {
    models = {
      "efficientnet-lite0" = {}
      "efficientnet-lite2" = { memory_size = 4096, architecture = "arm64", reserved_concurrency = -1 }
    }
    model_routing         = { "efficientnet-lite0" = 90, "efficientnet-lite2" = 10 }
    create_webhook_secret = true
    webhook_allowed_hosts = ["hooks.example.com", ".example.org"]
    quota_images_per_day  = 1000
    kms_key_arn           = "arn:aws:kms:eu-west-1:123456789012:key/11111111-1111-4111-8111-111111111111"
  }

  assert {
    condition     = module.function["inference-efficientnet-lite2"].function_name == "imgpipe-test-inference-efficientnet-lite2"
    error_message = "Each model gets its own inference function."
  }

  assert {
    condition     = local.environment["api"].IMGPIPE_MODEL_ROUTING == "efficientnet-lite0=90,efficientnet-lite2=10" && local.environment["preprocess"].IMGPIPE_MODEL_ROUTING == "efficientnet-lite0=90,efficientnet-lite2=10"
    error_message = "The routing is name=weight in name order."
  }

  assert {
    condition     = local.environment["inference-efficientnet-lite2"].IMGPIPE_ORT_THREADS == "3" && local.environment["inference-efficientnet-lite0"].IMGPIPE_ORT_THREADS == "2"
    error_message = "ONNX Runtime threads follow memory: ceil(4096 / 1769) = 3, ceil(2048 / 1769) = 2."
  }

  assert {
    condition     = sort(keys(aws_lambda_layer_version.onnxruntime)) == sort(["x86_64", "arm64"]) && aws_lambda_layer_version.onnxruntime["arm64"].layer_name == "imgpipe-test-onnxruntime-arm64"
    error_message = "One ONNX Runtime layer per architecture a model runs on."
  }

  assert {
    condition     = aws_lambda_layer_version.model["efficientnet-lite2"].layer_name == "imgpipe-test-model-efficientnet-lite2"
    error_message = "One model layer per model."
  }

  assert {
    condition     = length(jsondecode(local.environment["preprocess"].IMGPIPE_MODELS)) == 2 && jsondecode(local.environment["api"].IMGPIPE_MODELS)[1].input.height == 260
    error_message = "IMGPIPE_MODELS lists every deployed model with its manifest entry."
  }

  assert {
    condition     = local.environment["notify"].IMGPIPE_WEBHOOK_SECRET_ARN == aws_secretsmanager_secret.webhook[0].arn && local.environment["notify"].IMGPIPE_WEBHOOK_ALLOWED_HOSTS == "hooks.example.com,.example.org"
    error_message = "Webhooks on: notify gets the created secret and the allowed hosts."
  }

  assert {
    condition     = anytrue([for statement in local.policy_statements["notify"] : contains(statement.actions, "secretsmanager:GetSecretValue") && length(statement.resources) == 1 && contains(statement.resources, aws_secretsmanager_secret.webhook[0].arn)])
    error_message = "notify may read exactly the webhook secret."
  }

  assert {
    condition     = length(local.policy_statements["inference-efficientnet-lite2"]) == length(local.permissions["inference"]) + 2 && length(local.policy_statements["notify"]) == length(local.permissions["notify"]) + 1
    error_message = "With a key: KMS through S3 for the functions that touch objects, through DynamoDB for all."
  }

  assert {
    condition     = local.environment["api"].IMGPIPE_QUOTA_IMAGES_PER_DAY == "1000"
    error_message = "The quota reaches the api."
  }
}

run "routing_must_sum_to_100" {
  command = plan

  variables {
    model_routing = { "efficientnet-lite0" = 60 }
  }

  expect_failures = [var.model_routing]
}

run "routing_names_deployed_models" {
  command = plan

  variables {
    model_routing = { "efficientnet-lite0" = 50, "resnet-50" = 50 }
  }

  expect_failures = [terraform_data.configuration]
}

run "no_open_api_without_consent" {
  command = plan

  variables {
    api_authorization_mode = "none"
  }

  expect_failures = [terraform_data.configuration]
}

run "no_open_api_in_production" {
  command = plan

  variables {
    environment            = "prod"
    api_authorization_mode = "none"
    allow_unauthenticated  = true
  }

  expect_failures = [terraform_data.configuration]
}

run "webhooks_need_a_key" {
  command = plan

  variables {
    webhook_allowed_hosts = ["hooks.example.com"]
  }

  expect_failures = [terraform_data.configuration]
}

run "missing_artifacts_are_named" {
  command = plan

  variables {
    models = { "efficientnet-lite7" = {} }
  }

  expect_failures = [terraform_data.artifacts]
}
