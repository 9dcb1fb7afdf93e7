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

variable "artifacts_dir" {
  description = "Directory holding manifest.json and the zips it lists (lambda/, layers/). null: the repository's build/artifacts (make package)."
  type        = string
  default     = null
}

variable "new_account" {
  description = "The account's Lambda concurrency quota is still the new-account 10: reserve no concurrency for any function (every reserved concurrency -1). The event source mappings' maximum concurrency still caps each consumer."
  type        = bool
  default     = false
}

variable "models" {
  description = "Models to deploy (see the root module's models variable): one inference function and queue each."
  type = map(object({
    variant              = optional(string, "fp32")
    memory_size          = optional(number, 2048)
    timeout              = optional(number, 60)
    batch_size           = optional(number, 8)
    batching_window      = optional(number, 1)
    max_concurrency      = optional(number, 10)
    reserved_concurrency = optional(number, 10)
    architecture         = optional(string, "x86_64")
    ort_threads          = optional(number)
    max_receive_count    = optional(number, 5)
  }))
  default = {
    "efficientnet-lite0" = {}
  }
}

variable "quota_images_per_day" {
  description = "Images each owner may submit per day; 0: no quota."
  type        = number
  default     = 1000
}

variable "webhook_allowed_hosts" {
  description = "Hosts (or .suffix domains) webhooks may be delivered to; empty: webhooks off."
  type        = list(string)
  default     = []
}

variable "create_webhook_secret" {
  description = "Create the empty secret for the webhook signing key (put its whsec_... value with the CLI)."
  type        = bool
  default     = false
}

variable "allow_unauthenticated" {
  description = "Allow api_authorization_mode = \"none\" (anyone may call the API; short-lived experiments only)."
  type        = bool
  default     = false
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
  description = "Who may call the API: iam (default), jwt, or none (anyone; needs allow_unauthenticated)."
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
