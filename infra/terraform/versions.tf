terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40.0, < 7.0.0"
    }
  }

  # Configure a remote backend (S3 + DynamoDB/lockfile, Terraform Cloud, ...) per environment,
  # e.g. `terraform init -backend-config=backend.hcl`. Local state by default.
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ project = "ssd2", component = "model-weights" }, var.tags)
  }
}
