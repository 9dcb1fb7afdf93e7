variable "name_prefix" {
  description = "Prefix of every name, \"{project}-{environment}\". The API is \"{name_prefix}-http\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-63 characters of lowercase letters, digits and hyphens, starting and ending with a letter or digit."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "function_name" {
  description = "Name of the api function; the Lambda permission lets only this API invoke it."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be a Lambda function name (1-64 letters, digits, hyphens, underscores)."
  }
}

variable "function_invoke_arn" {
  description = "Invoke ARN of the api function (aws_lambda_function.invoke_arn)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:apigateway:[a-z0-9-]+:lambda:path/", var.function_invoke_arn))
    error_message = "function_invoke_arn must be a Lambda invoke ARN (arn:aws:apigateway:REGION:lambda:path/...)."
  }
}

variable "authorization_mode" {
  description = "Who may call the API: \"iam\" (SigV4-signed requests, AWS_IAM), \"jwt\" (bearer tokens from jwt_issuer for jwt_audience) or \"none\" (anyone: an explicit opt-in for local stacks and demos only)."
  type        = string
  default     = "iam"

  validation {
    condition     = contains(["iam", "jwt", "none"], var.authorization_mode)
    error_message = "authorization_mode must be \"iam\", \"jwt\" or \"none\"."
  }
}

variable "jwt_issuer" {
  description = "Issuer URL of the JWT authorizer (e.g. https://cognito-idp.REGION.amazonaws.com/POOL_ID). Required when authorization_mode is \"jwt\"."
  type        = string
  default     = null

  validation {
    condition     = var.jwt_issuer == null || can(regex("^https://[^\\s]+$", var.jwt_issuer))
    error_message = "jwt_issuer must be null or an https:// URL."
  }
}

variable "jwt_audience" {
  description = "Accepted JWT audiences (aud claim; for Cognito access tokens, the app client ids). At least one is required when authorization_mode is \"jwt\"."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for audience in var.jwt_audience : length(trimspace(audience)) > 0])
    error_message = "jwt_audience must not contain empty strings."
  }
}

variable "jwt_authorization_scopes" {
  description = "OAuth scopes a JWT must carry on every route (authorization_mode \"jwt\" only). Empty: any valid token."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for scope in var.jwt_authorization_scopes : length(trimspace(scope)) > 0])
    error_message = "jwt_authorization_scopes must not contain empty strings."
  }
}

variable "cors_allowed_origins" {
  description = "Origins allowed to call the API from a browser (exact origins, e.g. https://app.example.com). Empty: no CORS configuration. \"*\" is refused."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for origin in var.cors_allowed_origins : can(regex("^https?://[^*/\\s]+$", origin))])
    error_message = "Each CORS origin must be an exact origin such as https://app.example.com (scheme and host, optional port, no path, no \"*\")."
  }
}

variable "cors_max_age_seconds" {
  description = "How long browsers may cache a CORS preflight answer (seconds)."
  type        = number
  default     = 300

  validation {
    condition     = var.cors_max_age_seconds >= 0 && var.cors_max_age_seconds <= 86400
    error_message = "cors_max_age_seconds must be from 0 to 86400."
  }
}

variable "integration_timeout_milliseconds" {
  description = "How long API Gateway waits for the function (ms). Keep it above the api function's timeout."
  type        = number
  default     = 29000

  validation {
    condition     = var.integration_timeout_milliseconds >= 50 && var.integration_timeout_milliseconds <= 30000
    error_message = "integration_timeout_milliseconds must be from 50 to 30000."
  }
}

variable "throttling_rate_limit" {
  description = "Steady-state requests per second the $default stage accepts (the account default is 10,000 across all APIs of a region)."
  type        = number
  default     = 1000

  validation {
    condition     = var.throttling_rate_limit >= 1
    error_message = "throttling_rate_limit must be at least 1."
  }
}

variable "throttling_burst_limit" {
  description = "Burst of requests the $default stage accepts above the rate limit."
  type        = number
  default     = 2000

  validation {
    condition     = var.throttling_burst_limit >= 1 && floor(var.throttling_burst_limit) == var.throttling_burst_limit
    error_message = "throttling_burst_limit must be a positive integer."
  }
}

variable "detailed_metrics_enabled" {
  description = "Publish per-route CloudWatch metrics (extra metrics cost)."
  type        = bool
  default     = false
}

variable "access_log_retention_days" {
  description = "Retention of the access log group in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.access_log_retention_days)
    error_message = "access_log_retention_days must be one of the values CloudWatch Logs accepts."
  }
}

variable "log_kms_key_arn" {
  description = "ARN of a KMS key to encrypt the access log group with; its key policy must allow logs.<region>.amazonaws.com. null: CloudWatch Logs' default encryption."
  type        = string
  default     = null

  validation {
    condition     = var.log_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-f0-9-]+$", var.log_kms_key_arn))
    error_message = "log_kms_key_arn must be null or a KMS key ARN."
  }
}
