output "bucket_name" {
  description = "The workers' S3_BUCKET."
  value       = aws_s3_bucket.weights.id
}

output "bucket_arn" {
  description = "ARN of the weights bucket."
  value       = aws_s3_bucket.weights.arn
}

output "bucket_region" {
  description = "The workers' S3_REGION."
  value       = var.region
}

output "bucket_prefix" {
  description = "The workers' S3_PREFIX."
  value       = var.bucket_prefix
}

output "worker_role_arn" {
  description = "Read-only role for the workers: the eks.amazonaws.com/role-arn annotation of infra/k8s/serviceaccount.yaml (IRSA)."
  value       = aws_iam_role.worker.arn
}

output "worker_policy_arn" {
  description = "The read-only policy attached to the worker role."
  value       = aws_iam_policy.worker_read.arn
}
