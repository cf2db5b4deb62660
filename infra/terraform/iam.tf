# Read-only access for the GPU workers: list the model tree and get objects under the prefix.
# Nothing else (no Put, no Delete, no other bucket).

locals {
  oidc_issuer = replace(var.eks_oidc_provider_arn, "/^arn:aws[a-z-]*:iam::[0-9]+:oidc-provider\\//", "")
}

data "aws_iam_policy_document" "worker_trust" {
  dynamic "statement" {
    for_each = var.eks_oidc_provider_arn == "" ? [] : [1]

    content {
      sid     = "EksIrsa"
      effect  = "Allow"
      actions = ["sts:AssumeRoleWithWebIdentity"]

      principals {
        type        = "Federated"
        identifiers = [var.eks_oidc_provider_arn]
      }

      condition {
        test     = "StringEquals"
        variable = "${local.oidc_issuer}:sub"
        values   = ["system:serviceaccount:${var.k8s_namespace}:${var.k8s_service_account}"]
      }

      condition {
        test     = "StringEquals"
        variable = "${local.oidc_issuer}:aud"
        values   = ["sts.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.eks_pod_identity ? [1] : []

    content {
      sid     = "EksPodIdentity"
      effect  = "Allow"
      actions = ["sts:AssumeRole", "sts:TagSession"]

      principals {
        type        = "Service"
        identifiers = ["pods.eks.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.trusted_role_arns) == 0 ? [] : [1]

    content {
      sid     = "TrustedRoles"
      effect  = "Allow"
      actions = ["sts:AssumeRole"]

      principals {
        type        = "AWS"
        identifiers = var.trusted_role_arns
      }
    }
  }
}

resource "aws_iam_role" "worker" {
  name               = var.role_name
  description        = "SSD-2 GPU workers: read-only access to the model weights bucket"
  assume_role_policy = data.aws_iam_policy_document.worker_trust.json

  lifecycle {
    precondition {
      condition     = var.eks_oidc_provider_arn != "" || var.eks_pod_identity || length(var.trusted_role_arns) > 0
      error_message = "Set at least one of eks_oidc_provider_arn, eks_pod_identity or trusted_role_arns: nothing could assume the worker role."
    }
  }
}

# Exactly what the worker does: GetObject of bundle files (worker-gpu/src/store/s3-source.ts);
# ListBucket, also so that S3 answers a missing key with 404 NoSuchKey (model_not_found) rather
# than 403, limited to the bundle prefix; writes only under tenants/*/user-models/ (uploads).
data "aws_iam_policy_document" "worker_read" {
  statement {
    sid       = "ListModelTree"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.weights.arn]

    dynamic "condition" {
      for_each = var.bucket_prefix == "" ? [] : [1]

      content {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["${var.bucket_prefix}*"]
      }
    }
  }

  statement {
    sid       = "GetBundleFiles"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.weights.arn}/${var.bucket_prefix}*"]
  }

  # User-model uploads (docs/edge.md): the workers stream tenants' files into their own prefix,
  # and remove a version that failed validation or was deleted. Nothing outside tenants/*/user-models/.
  statement {
    sid       = "WriteUploadedUserModels"
    effect    = "Allow"
    actions   = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${aws_s3_bucket.weights.arn}/${var.bucket_prefix}tenants/*/user-models/*"]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == "" ? [] : [1]

    content {
      sid       = "DecryptBundleFiles"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [var.kms_key_arn]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${var.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_policy" "worker_read" {
  name        = "${var.role_name}-policy"
  description = "List and get model bundles in ${var.bucket_name}/${var.bucket_prefix}; write uploaded user models under tenants/*/user-models/"
  policy      = data.aws_iam_policy_document.worker_read.json
}

resource "aws_iam_role_policy_attachment" "worker_read" {
  role       = aws_iam_role.worker.name
  policy_arn = aws_iam_policy.worker_read.arn
}

resource "aws_eks_pod_identity_association" "worker" {
  count = var.eks_pod_identity ? 1 : 0

  cluster_name    = var.eks_cluster_name
  namespace       = var.k8s_namespace
  service_account = var.k8s_service_account
  role_arn        = aws_iam_role.worker.arn
}
