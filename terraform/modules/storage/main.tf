data "aws_caller_identity" "current" {}

locals {
  # Bucket names are global: the account id makes this one unique without a random suffix.
  bucket_name = "${var.name_prefix}-images-${data.aws_caller_identity.current.account_id}"
  table_name  = "${var.name_prefix}-images"

  # Index names and key attributes are the code's (services/contract.json `table`).
  status_index_name     = "status-created_at"
  owner_index_name      = "owner-created_at"
  owner_source_key_name = "source_owner-source_key"
  index_names           = [local.status_index_name, local.owner_index_name, local.owner_source_key_name]

  sse_algorithm = var.kms_key_arn == null ? "AES256" : "aws:kms"

  # Every prefix the code writes expires with the DynamoDB record (same retention): API uploads, bulk
  # ingest objects and their JSON results. The model-ready pixels travel in the inference message, so
  # nothing else is ever stored here.
  expiring_prefixes = var.object_expiration_days == null ? {} : {
    uploads = var.object_prefixes.uploads
    ingest  = var.object_prefixes.ingest
    results = var.object_prefixes.results
  }
}

################################################################################
# S3 bucket: uploads/, ingest/, results/
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

# Every statement of the bucket policy is a Deny for everyone (principal "*") under a condition; they are data
# here so that the tests (tools/checks, terraform/tests) can read them from the bucket_policy_denies output.
locals {
  bucket_policy_denies = {
    # TLS only, and no TLS older than 1.2.
    DenyInsecureTransport = {
      actions   = ["s3:*"]
      resources = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
      test      = "Bool"
      variable  = "aws:SecureTransport"
      values    = ["false"]
    }
    DenyOutdatedTls = {
      actions   = ["s3:*"]
      resources = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
      test      = "NumericLessThan"
      variable  = "s3:TlsVersion"
      values    = ["1.2"]
    }
    # An upload URL (presigned PUT) must not be able to replace an image once it is there: every write under
    # uploads/ has to be conditional (If-None-Match: *), which S3 refuses when the key already exists.
    DenyUploadOverwrites = {
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.this.arn}/${var.object_prefixes.uploads}*"]
      test      = "Null"
      variable  = "s3:if-none-match"
      values    = ["true"]
    }
  }
}

data "aws_iam_policy_document" "bucket" {
  dynamic "statement" {
    for_each = local.bucket_policy_denies

    content {
      sid       = statement.key
      effect    = "Deny"
      actions   = statement.value.actions
      resources = statement.value.resources

      principals {
        type        = "*"
        identifiers = ["*"]
      }

      condition {
        test     = statement.value.test
        variable = statement.value.variable
        values   = statement.value.values
      }
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

  # The whole bucket (an empty prefix: `filter {}` draws a warning from provider 5.90 on).
  rule {
    id     = "bucket-housekeeping"
    status = "Enabled"

    filter {
      prefix = ""
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    expiration {
      expired_object_delete_marker = true
    }
  }

  # Each prefix the code writes: current versions after the retention, the version left behind (by the
  # expiry's delete marker or a DELETE) a day later.
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

      noncurrent_version_expiration {
        noncurrent_days = var.prefix_noncurrent_version_expiration_days
      }
    }
  }

  # Noncurrent-version rules need versioning to be configured first.
  depends_on = [aws_s3_bucket_versioning.this]
}

# One notification resource per bucket (S3 keeps a single notification configuration). The queue ARNs come
# from the queues module, whose output waits for the queue policies that let this bucket send: S3 checks
# that permission when the configuration is put.
resource "aws_s3_bucket_notification" "this" {
  bucket = aws_s3_bucket.this.id

  dynamic "queue" {
    for_each = var.notifications

    content {
      id            = "${trimsuffix(queue.value.prefix, "/")}-to-${queue.value.queue_name}"
      queue_arn     = queue.value.queue_arn
      events        = ["s3:ObjectCreated:*"]
      filter_prefix = queue.value.prefix
    }
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

  attribute {
    name = "source_owner"
    type = "S"
  }

  attribute {
    name = "source_key"
    type = "S"
  }

  # Listing by status: status_shard is "<status>#<n>" (n < STATUS_SHARDS), so one status spreads over
  # several index partitions; the API queries the shards in parallel.
  #
  # Both indexes project keys only. An index entry is rewritten whenever an attribute it holds changes: with
  # ALL, every status write also rewrote the owner entry (four writes per image on one owner's partition,
  # and a write unit per transition) and the status entries at full item size. Listings read their page
  # from the table with BatchGetItem instead.
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

  # Bulk listings by key prefix: an owner's ingest images ordered by their S3 key (a range of the sort key).
  # The partition is source_owner, the owner or "none" for an image ingested without one, so that such
  # images (emulated S3 events carry no writer) stay listable. It carries the status so that a listing by
  # prefix can count and filter without reading every item.
  global_secondary_index {
    name               = local.owner_source_key_name
    hash_key           = "source_owner"
    range_key          = "source_key"
    projection_type    = "INCLUDE"
    non_key_attributes = ["status"]
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
