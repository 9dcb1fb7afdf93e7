variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "environment" {
  description = "Environment name; resources are named \"imgpipe-{environment}-...\"."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,14}[a-z0-9]$", var.environment))
    error_message = "environment must be 2-16 characters of lowercase letters, digits and hyphens."
  }
}

variable "build_dir" {
  description = "Directory holding lambda/x86_64/{api,preprocess,inference}/bootstrap.zip and layers/{onnxruntime-x86_64,model-fp32}.zip. null: the repository's build/ directory."
  type        = string
  default     = null
}

variable "endpoint_url" {
  description = "Endpoint of an AWS emulator (e.g. http://127.0.0.1:5000) to send every API call to. null: real AWS."
  type        = string
  default     = null

  validation {
    condition     = var.endpoint_url == null || can(regex("^https?://", var.endpoint_url))
    error_message = "endpoint_url must be null or an http(s) URL."
  }
}

variable "api_authorization_mode" {
  description = "Who may call the API: iam (default), jwt, or none (anyone; local experiments only)."
  type        = string
  default     = "iam"

  validation {
    condition     = contains(["iam", "jwt", "none"], var.api_authorization_mode)
    error_message = "api_authorization_mode must be \"iam\", \"jwt\" or \"none\"."
  }
}

variable "api_jwt_issuer" {
  description = "JWT issuer URL, when api_authorization_mode is jwt."
  type        = string
  default     = null
}

variable "api_jwt_audience" {
  description = "Accepted JWT audiences, when api_authorization_mode is jwt."
  type        = list(string)
  default     = []
}

variable "api_cors_allowed_origins" {
  description = "Browser origins allowed to call the API (exact origins, no \"*\")."
  type        = list(string)
  default     = []
}

variable "alarm_email_addresses" {
  description = "Addresses that receive alarm notifications."
  type        = list(string)
  default     = []
}
