locals {
  name = "${var.name_prefix}-http"

  # Every route the api function serves. OPTIONS (CORS preflight) is answered by API Gateway itself from
  # cors_configuration, without authorization.
  route_keys = toset([
    "POST /images",
    "GET /images",
    "GET /images/{id}",
    "DELETE /images/{id}",
    "GET /models",
  ])

  authorization_type = {
    iam  = "AWS_IAM"
    jwt  = "JWT"
    none = "NONE"
  }[var.authorization_mode]
}

resource "aws_apigatewayv2_api" "this" {
  name          = local.name
  description   = "imgpipe HTTP API (${var.name_prefix})"
  protocol_type = "HTTP"

  dynamic "cors_configuration" {
    for_each = length(var.cors_allowed_origins) > 0 ? [var.cors_allowed_origins] : []

    content {
      allow_origins = cors_configuration.value
      allow_methods = ["GET", "POST", "DELETE", "OPTIONS"]
      # What SigV4 (IAM), bearer tokens (JWT) and the API's own headers need.
      allow_headers = [
        "authorization",
        "content-type",
        "idempotency-key",
        "x-amz-content-sha256",
        "x-amz-date",
        "x-amz-security-token",
      ]
      expose_headers    = ["idempotent-replayed", "location"]
      allow_credentials = false
      max_age           = var.cors_max_age_seconds
    }
  }

  tags = var.tags
}

resource "aws_apigatewayv2_integration" "this" {
  api_id                 = aws_apigatewayv2_api.this.id
  description            = "The api function"
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = var.function_invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = var.integration_timeout_milliseconds
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  count = var.authorization_mode == "jwt" ? 1 : 0

  api_id           = aws_apigatewayv2_api.this.id
  name             = "${local.name}-jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]

  jwt_configuration {
    issuer   = var.jwt_issuer
    audience = var.jwt_audience
  }

  lifecycle {
    precondition {
      condition     = var.jwt_issuer != null && length(var.jwt_audience) > 0
      error_message = "authorization_mode = \"jwt\" needs jwt_issuer and at least one jwt_audience."
    }
  }
}

resource "aws_apigatewayv2_route" "this" {
  for_each = local.route_keys

  api_id               = aws_apigatewayv2_api.this.id
  route_key            = each.value
  target               = "integrations/${aws_apigatewayv2_integration.this.id}"
  authorization_type   = local.authorization_type
  authorizer_id        = var.authorization_mode == "jwt" ? aws_apigatewayv2_authorizer.jwt[0].id : null
  authorization_scopes = var.authorization_mode == "jwt" && length(var.jwt_authorization_scopes) > 0 ? var.jwt_authorization_scopes : null
}

resource "aws_cloudwatch_log_group" "access" {
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days) sized for operational access logs; keeping them a year is a cost the environment opts into.
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data at rest by default; a customer managed key is used when var.log_kms_key_arn is set (its key policy must allow logs.<region>.amazonaws.com).
  name              = "/aws/apigateway/${local.name}/access"
  retention_in_days = var.access_log_retention_days
  kms_key_id        = var.log_kms_key_arn

  tags = var.tags
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit    = var.throttling_rate_limit
    throttling_burst_limit   = var.throttling_burst_limit
    detailed_metrics_enabled = var.detailed_metrics_enabled
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      sourceIp           = "$context.identity.sourceIp"
      userAgent          = "$context.identity.userAgent"
      httpMethod         = "$context.httpMethod"
      routeKey           = "$context.routeKey"
      path               = "$context.path"
      protocol           = "$context.protocol"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      integrationStatus  = "$context.integrationStatus"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      errorMessage       = "$context.error.message"
      iamCaller          = "$context.identity.userArn"
      jwtSubject         = "$context.authorizer.claims.sub"
    })
  }

  tags = var.tags
}

# Only this API (any stage, method and route of it) may invoke the function.
resource "aws_lambda_permission" "this" {
  statement_id  = "AllowInvokeFromHttpApi"
  action        = "lambda:InvokeFunction"
  function_name = var.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
}
