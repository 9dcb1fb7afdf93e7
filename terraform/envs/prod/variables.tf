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
  default     = "prod"

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

variable "model_routing" {
  description = "Share of new images per model in percent (summing to 100); null: everything to the first model by name."
  type        = map(number)
  default     = null
}

variable "api_authorization_mode" {
  description = "Who may call the API: iam (SigV4, the default) or jwt. Production never runs an unauthenticated API."
  type        = string
  default     = "iam"

  validation {
    condition     = contains(["iam", "jwt"], var.api_authorization_mode)
    error_message = "api_authorization_mode must be \"iam\" or \"jwt\" in production."
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

variable "api_jwt_authorization_scopes" {
  description = "OAuth scopes a JWT must carry, when api_authorization_mode is jwt."
  type        = list(string)
  default     = []
}

variable "api_cors_allowed_origins" {
  description = "Browser origins allowed to call the API (exact origins, no \"*\")."
  type        = list(string)
  default     = []
}

variable "alarm_email_addresses" {
  description = "Addresses that receive alarm notifications (each confirms by email)."
  type        = list(string)
  default     = []
}

variable "alarm_topic_arn" {
  description = "ARN of an existing SNS topic for the alarms (a pager or chat integration). null: the module creates one."
  type        = string
  default     = null
}

variable "quota_images_per_day" {
  description = "Images each owner may submit per day; 0: no quota."
  type        = number
  default     = 0
}

variable "webhook_allowed_hosts" {
  description = "Hosts (or .suffix domains) webhooks may be delivered to; empty: webhooks off."
  type        = list(string)
  default     = []
}

variable "webhook_secret_arn" {
  description = "ARN of the existing Secrets Manager secret holding the webhook signing key (whsec_...)."
  type        = string
  default     = null
}
