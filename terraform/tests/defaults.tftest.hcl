# `terraform test` (Terraform >= 1.7, run from terraform/): the root composition with its defaults, planned and
# applied against a mocked AWS provider, so no account or credentials are needed. The artifacts are the
# stand-ins under tests/fixtures/artifacts (real zips of placeholders, with their manifest.json).

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
}

variables {
  environment   = "test"
  artifacts_dir = "./tests/fixtures/artifacts"
}

run "defaults" {
  command = apply

  assert {
    condition     = alltrue([for key, function in module.function : function.function_name == "imgpipe-test-${key}"])
    error_message = "Every function is named {prefix}-{key}."
  }

  assert {
    condition     = sort(keys(module.function)) == sort(["api", "inference-efficientnet-lite0", "notify", "preprocess", "sweeper"])
    error_message = "The defaults deploy api, preprocess, sweeper, notify and one inference function for efficientnet-lite0."
  }

  assert {
    condition     = alltrue([for key, name in module.queues.queue_names : name == "imgpipe-test-${key}"]) && alltrue([for key, name in module.queues.dlq_names : name == "imgpipe-test-${key}-dlq"])
    error_message = "Queues are {prefix}-{key}, their DLQs {prefix}-{key}-dlq."
  }

  assert {
    condition     = module.storage.table_name == "imgpipe-test-images" && module.queues.event_bus_name == "imgpipe-test-events" && startswith(module.storage.bucket_name, "imgpipe-test-images-")
    error_message = "The table, bucket and event bus are named from the prefix."
  }

  assert {
    condition     = alltrue(flatten([for key, statements in local.policy_statements : [for statement in statements : [for action in statement.actions : !strcontains(action, "*")]]]))
    error_message = "No policy statement grants a wildcard action."
  }

  assert {
    condition     = alltrue([for key, seconds in module.queues.visibility_timeouts : seconds >= 6 * module.function[key].timeout])
    error_message = "Every work queue's visibility timeout is at least 6x its consumer's timeout."
  }

  assert {
    condition     = alltrue([for key in local.swept_dlqs : module.queues.dlq_visibility_timeouts[key] >= 6 * module.function["sweeper"].timeout])
    error_message = "Every DLQ the sweeper drains has a visibility timeout of at least 6x the sweeper's timeout."
  }

  assert {
    condition     = module.queues.max_message_sizes["inference-efficientnet-lite0"].queue == 262144 && module.queues.max_message_sizes["inference-efficientnet-lite0"].dlq == 262144
    error_message = "The pixel queue and its DLQ take 262144-byte messages."
  }

  assert {
    condition     = anytrue([for sid, deny in module.storage.bucket_policy_denies : contains(deny.actions, "s3:*") && deny.test == "Bool" && deny.variable == "aws:SecureTransport" && contains(deny.values, "false")])
    error_message = "The bucket policy denies every request without TLS."
  }

  assert {
    condition     = anytrue([for sid, deny in module.storage.bucket_policy_denies : contains(deny.actions, "s3:PutObject") && deny.test == "Null" && deny.variable == "s3:if-none-match"])
    error_message = "The bucket policy denies writes under uploads/ without If-None-Match."
  }

  assert {
    condition     = length(module.monitoring.alarm_actions) >= 20 && alltrue([for name, actions in module.monitoring.alarm_actions : length(actions) > 0])
    error_message = "Every alarm notifies the alarm topic."
  }

  assert {
    condition     = local.environment["api"].IMGPIPE_AUTH_MODE == "iam" && local.environment["api"].IMGPIPE_MODEL_ROUTING == "efficientnet-lite0=100"
    error_message = "The api authenticates with IAM and routes everything to the only model."
  }

  assert {
    condition     = local.environment["inference-efficientnet-lite0"].IMGPIPE_ORT_THREADS == "2"
    error_message = "2048 MB buys two vCPUs: two ONNX Runtime threads."
  }

  assert {
    condition     = length(jsondecode(local.environment["preprocess"].IMGPIPE_MODELS)) == 1 && jsondecode(local.environment["preprocess"].IMGPIPE_MODELS)[0].name == "efficientnet-lite0" && can(jsondecode(local.environment["preprocess"].IMGPIPE_MODELS)[0].queue_url) && !can(jsondecode(local.environment["api"].IMGPIPE_MODELS)[0].queue_url)
    error_message = "IMGPIPE_MODELS comes from the manifest; only preprocess gets the queue URLs."
  }

  assert {
    condition     = local.environment["notify"].IMGPIPE_WEBHOOK_ALLOWED_HOSTS == "" && local.environment["notify"].IMGPIPE_WEBHOOK_SECRET_ARN == ""
    error_message = "Webhooks are off by default."
  }
}
