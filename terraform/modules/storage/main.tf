data "aws_caller_identity" "current" {}

locals {
  # Bucket names are global: the account id makes this one unique without a random suffix.
  bucket_name = "${var.name_prefix}-images-${data.aws_caller_identity.current.account_id}"
  table_name  = "${var.name_prefix}-images"

  # Index names and key attributes are fixed by services/core/src/store.rs (STATUS_INDEX, status_shard_key).
  status_index_name = "status-created_at"
  owner_index_name  = "owner-created_at"
  index_names       = [local.status_index_name, local.owner_index_name]

  sse_algorithm = var.kms_key_arn == null ? "AES256" : "aws:kms"

  # uploads/ expire with the DynamoDB record (same retention). Results live in the DynamoDB item only, and
  # the model-ready pixels in the inference message, so nothing else is ever stored here.
  expiring_prefixes = var.object_expiration_days == null ? {} : {
    uploads = var.object_prefixes.uploads
  }
}

################################################################################
# S3 bucket: uploads/
################################################################################

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Server access logs need a separate log bucket owned by the account's logging setup; request-level audit is expected from CloudTrail S3 data events, configured per account, not per workload.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage for transient pipeline data (uploads expire with their record); recovery relies on versioning within the region.
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES256) is the secure default and needs no key policy; a customer managed KMS key is used when var.kms_key_arn is set.
  bucket        = local.bucket_name
  force_destroy = var.force_destroy

  tags = var.tags
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = local.sse_algorithm
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = var.kms_key_arn != null
  }
}

# Browsers that upload through the presigned PUT URL the API hands out need CORS on the bucket too.
resource "aws_s3_bucket_cors_configuration" "this" {
  count = length(var.cors_allowed_origins) > 0 ? 1 : 0

  bucket = aws_s3_bucket.this.id

  cors_rule {
    id              = "presigned-uploads"
    allowed_methods = ["PUT"]
    allowed_origins = var.cors_allowed_origins
    # The headers a presigned PUT signs (Content-Type) and the SDKs' own x-amz-* headers.
    allowed_headers = ["content-type", "content-length", "content-md5", "x-amz-*"]
    expose_headers  = ["etag", "x-amz-version-id"]
    max_age_seconds = 300
  }
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid     = "DenyOutdatedTls"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.bucket.json

  # A bucket policy put before the public access block can be rejected as "public".
  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }
  }

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    expiration {
      expired_object_delete_marker = true
    }
  }

  dynamic "rule" {
    for_each = local.expiring_prefixes

    content {
      id     = "expire-${rule.key}"
      status = "Enabled"

      filter {
        prefix = rule.value
      }

      expiration {
        days = var.object_expiration_days
      }
    }
  }

  # Noncurrent-version rules need versioning to be configured first.
  depends_on = [aws_s3_bucket_versioning.this]
}

# One notification resource per bucket (S3 keeps a single notification configuration). The queue ARN comes
# from the queues module, whose output waits for the queue policy that lets this bucket send: S3 checks
# that permission when the configuration is put.
resource "aws_s3_bucket_notification" "this" {
  bucket = aws_s3_bucket.this.id

  queue {
    id            = "uploads-to-preprocess"
    queue_arn     = var.upload_notification_queue_arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = var.object_prefixes.uploads
  }
}

################################################################################
# DynamoDB table: one item per image
################################################################################

resource "aws_dynamodb_table" "this" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS managed KMS key by default; a customer managed key is used when var.kms_key_arn is set.
  name                        = local.table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "image_id"
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "image_id"
    type = "S"
  }

  attribute {
    name = "status_shard"
    type = "S"
  }

  attribute {
    name = "owner"
    type = "S"
  }

  attribute {
    name = "created_at"
    type = "N"
  }

  # Listing by status: status_shard is "<status>#<n>" (n < STATUS_SHARDS), so one status spreads over
  # several index partitions; the API queries the shards in parallel.
  #
  # Both indexes project keys only. An index entry is rewritten whenever an attribute it holds changes: with
  # ALL, every status write also rewrote the owner entry (four writes per image on one owner's partition,
  # and a write unit per transition) and the status entries at full item size. Listings read their page
  # from the table with BatchGetItem instead (services/core/src/store.rs).
  global_secondary_index {
    name            = local.status_index_name
    hash_key        = "status_shard"
    range_key       = "created_at"
    projection_type = "KEYS_ONLY"
  }

  # "My images": items without an owner are simply absent from this sparse index. Its keys never change,
  # so with KEYS_ONLY it is written once per image.
  global_secondary_index {
    name            = local.owner_index_name
    hash_key        = "owner"
    range_key       = "created_at"
    projection_type = "KEYS_ONLY"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery_enabled
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}
