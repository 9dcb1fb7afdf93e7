output "bucket_name" {
  description = "Name of the image bucket (IMGPIPE_BUCKET_NAME)."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the image bucket."
  value       = aws_s3_bucket.this.arn
}

output "bucket_regional_domain_name" {
  description = "Regional domain name of the image bucket (the host of presigned upload URLs)."
  value       = aws_s3_bucket.this.bucket_regional_domain_name
}

output "object_prefixes" {
  description = "S3 key prefixes in use (uploads, ingest, results)."
  value       = var.object_prefixes
}

output "table_name" {
  description = "Name of the DynamoDB table (IMGPIPE_TABLE_NAME)."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the DynamoDB table."
  value       = aws_dynamodb_table.this.arn
}

output "table_index_names" {
  description = "Names of the table's global secondary indexes: the sharded status index, the owner index and the owner/source-key index."
  value       = local.index_names
}

output "table_index_arns" {
  description = "ARNs of the table's global secondary indexes, for dynamodb:Query grants."
  value       = [for name in local.index_names : "${aws_dynamodb_table.this.arn}/index/${name}"]
}

output "status_index_name" {
  description = "Name of the status index (hash key status_shard, range key created_at)."
  value       = local.status_index_name
}

output "owner_index_name" {
  description = "Name of the owner index (hash key owner, range key created_at)."
  value       = local.owner_index_name
}

output "owner_source_key_index_name" {
  description = "Name of the bulk-listing index (hash key source_owner, range key source_key, projects status)."
  value       = local.owner_source_key_name
}

output "bucket_policy_denies" {
  description = "The bucket policy's statements by sid: each denies actions on resources to everyone when test(variable, values) holds (TLS only, TLS 1.2 or later, no unconditional write under uploads/)."
  value       = local.bucket_policy_denies
}

output "lifecycle_expiring_prefixes" {
  description = "Prefixes whose objects expire after object_expiration_days (noncurrent versions a day later)."
  value       = local.expiring_prefixes
}
