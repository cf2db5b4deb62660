variable "region" {
  description = "AWS region of the weights bucket."
  type        = string
  default     = "us-east-1"
}

variable "bucket_name" {
  description = "Name of the S3 bucket holding model bundles (globally unique)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)."
  }
}

variable "bucket_prefix" {
  description = "Key prefix of the model tree inside the bucket (the workers' S3_PREFIX): empty, or ending in \"/\"."
  type        = string
  default     = ""

  validation {
    condition     = var.bucket_prefix == "" || endswith(var.bucket_prefix, "/")
    error_message = "bucket_prefix must be empty or end with \"/\"."
  }
}

variable "kms_key_arn" {
  description = "KMS key for bucket encryption (SSE-KMS). Empty: SSE-S3 (AES256). With a key, the worker role may also decrypt with it."
  type        = string
  default     = ""
}

variable "noncurrent_version_retention_days" {
  description = "Days a replaced or deleted object version is kept before it expires (rollbacks of a bad upload)."
  type        = number
  default     = 90
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete a non-empty bucket. Keep false outside throwaway environments."
  type        = bool
  default     = false
}

variable "role_name" {
  description = "Name of the workers' read-only IAM role."
  type        = string
  default     = "ssd2-worker-weights-read"
}

variable "eks_oidc_provider_arn" {
  description = "IRSA: ARN of the EKS cluster's IAM OIDC provider. Empty: no web-identity trust."
  type        = string
  default     = ""
}

variable "k8s_namespace" {
  description = "IRSA / EKS Pod Identity: namespace of the workers' ServiceAccount (infra/k8s)."
  type        = string
  default     = "ssd2"
}

variable "k8s_service_account" {
  description = "IRSA / EKS Pod Identity: the workers' ServiceAccount (infra/k8s/serviceaccount.yaml)."
  type        = string
  default     = "ssd2-worker"
}

variable "eks_pod_identity" {
  description = "Trust EKS Pod Identity (pods.eks.amazonaws.com) and create the association for cluster eks_cluster_name."
  type        = bool
  default     = false
}

variable "eks_cluster_name" {
  description = "EKS cluster for the Pod Identity association (with eks_pod_identity = true)."
  type        = string
  default     = ""
}

variable "trusted_role_arns" {
  description = "Other IAM roles allowed to assume the worker role (e.g. a GPU node instance role outside EKS)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}
