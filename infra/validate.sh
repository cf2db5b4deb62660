#!/usr/bin/env bash
# Offline validation of the deployment definitions (`npm run validate:infra`; docs/deploy.md):
#   1. wrangler deploy --dry-run for the top level (dev), staging and production: bundles the edge
#      and checks every binding, without an account or network;
#   2. the GPU worker bundle exactly as infra/docker/worker.Dockerfile builds it, and that every
#      package it imports is a production dependency (the image installs with --omit=dev);
#   3. infra/k8s: YAML parse, Kubernetes and KEDA schema validation (kubernetes-models from npm,
#      installed into .cache/infra-tools, never into the project), `kubectl kustomize` when kubectl
#      is installed, and cross-checks against the worker's code (infra/validate-manifests.mjs);
#      the Dockerfile is checked there too (hadolint as well when installed);
#   4. infra/terraform: `terraform fmt -check`, and `terraform validate` when the AWS provider can
#      be had (terraform init reaches registry.terraform.io; skipped where it cannot).
# A missing optional tool is a SKIP, not a failure. Exit status: 1 if any check failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false CHECKPOINT_DISABLE=1
NODE=node
[ -x node_modules/.bin/node ] && NODE=$ROOT/node_modules/.bin/node   # the project's Node 22
TOOLS=.cache/infra-tools
OUT=.cache/validate-infra
mkdir -p "$OUT"

failed=0; skipped=0; passed=0
pass() { passed=$((passed + 1)); echo "PASS  $*"; }
fail() { failed=$((failed + 1)); echo "FAIL  $*"; }
skip() { skipped=$((skipped + 1)); echo "SKIP  $*"; }
have() { command -v "$1" >/dev/null 2>&1; }

echo "== wrangler deploy --dry-run"
for env in dev staging production; do
  flag="--env=$env"; [ "$env" = dev ] && flag='--env='
  if npx --no-install wrangler deploy --dry-run $flag --outdir ".cache/wrangler-dry-run/$env" >"$OUT/wrangler-$env.log" 2>&1 \
     && grep -q -- '--dry-run: exiting now' "$OUT/wrangler-$env.log"; then
    pass "wrangler $env: bundled ($(grep -o 'Total Upload: [^/]*' "$OUT/wrangler-$env.log"))"
  else
    fail "wrangler $env (log: $OUT/wrangler-$env.log)"; tail -20 "$OUT/wrangler-$env.log"
  fi
done

echo "== worker bundle (as in infra/docker/worker.Dockerfile)"
if npx --no-install esbuild worker-gpu/src/main.ts --bundle --platform=node --target=node22 --format=esm \
     --packages=external --log-level=warning --outfile="$OUT/worker.mjs" 2>"$OUT/esbuild.log" \
   && npx --no-install esbuild worker-gpu/src/engine/threads/generation-thread.ts --bundle --platform=node --target=node22 \
     --format=esm --packages=external --log-level=warning --outfile="$OUT/generation-thread.mjs" 2>>"$OUT/esbuild.log"; then
  if "$NODE" -e '
    const fs = require("fs");
    const deps = Object.keys(require("./package.json").dependencies || {});
    const src = process.argv.slice(1).map((f) => fs.readFileSync(f, "utf8")).join("\n");
    const bare = [...src.matchAll(/(?<![\w$."-])(?:from|import)\s*\(?\s*"([^".][^"]*)"/g)].map((m) => m[1]).filter((s) => !s.startsWith("node:"));
    const pkgs = [...new Set(bare.map((s) => s.startsWith("@") ? s.split("/").slice(0, 2).join("/") : s.split("/")[0]))];
    const missing = pkgs.filter((p) => !deps.includes(p));
    console.log("  imports: " + pkgs.join(", "));
    if (missing.length) { console.log("  not in package.json dependencies (the image omits devDependencies): " + missing.join(", ")); process.exit(1); }
  ' "$OUT/worker.mjs" "$OUT/generation-thread.mjs"; then
    pass "worker bundles (worker.mjs, generation-thread.mjs) build; every import is a production dependency"
  else
    fail "worker bundle imports a package the image does not install"
  fi
else
  fail "worker bundle (esbuild): $(cat "$OUT/esbuild.log")"
fi

echo "== schema tools (npm registry, into $TOOLS)"
tool_specs=(yaml@2.9.1 kubernetes-models@5.1.0 @kubernetes-models/keda@2.0.0)
tools_ok() { [ -f "$TOOLS/node_modules/kubernetes-models/package.json" ] && [ -f "$TOOLS/node_modules/@kubernetes-models/keda/package.json" ] && [ -f "$TOOLS/node_modules/yaml/package.json" ]; }
if ! tools_ok; then
  mkdir -p "$TOOLS"
  npm install --prefix "$TOOLS" --no-save --no-package-lock --ignore-scripts --no-audit --no-fund --prefer-offline \
    "${tool_specs[@]}" >"$OUT/tools.log" 2>&1 || true
fi
if tools_ok; then
  pass "yaml, kubernetes-models, @kubernetes-models/keda available"
  tools_arg=(--tools "$TOOLS")
else
  skip "schema tools could not be installed (log: $OUT/tools.log): YAML through python3, no schema validation"
  tools_arg=()
fi

echo "== kustomize"
rendered_arg=()
if have kubectl; then
  if kubectl kustomize infra/k8s >"$OUT/k8s-rendered.yaml" 2>"$OUT/kustomize.log"; then
    pass "kubectl kustomize infra/k8s ($(grep -c '^kind:' "$OUT/k8s-rendered.yaml") objects)"
    rendered_arg=(--rendered "$OUT/k8s-rendered.yaml")
  else
    fail "kubectl kustomize infra/k8s: $(cat "$OUT/kustomize.log")"
  fi
else
  skip "kubectl not installed: kustomize rendering not checked"
fi

echo "== manifests and Dockerfile (infra/validate-manifests.mjs)"
if "$NODE" infra/validate-manifests.mjs "${tools_arg[@]}" "${rendered_arg[@]}" >"$OUT/manifests.log" 2>&1; then
  pass "manifests and Dockerfile: $(grep -c '^  ok' "$OUT/manifests.log") checks"
else
  fail "manifests and Dockerfile (log: $OUT/manifests.log)"; grep -v '^  ok' "$OUT/manifests.log"
fi
grep '^  note' "$OUT/manifests.log" || true

if have hadolint; then
  if hadolint infra/docker/worker.Dockerfile; then pass "hadolint"; else fail "hadolint"; fi
else
  skip "hadolint not installed"
fi

echo "== terraform"
if have terraform; then
  if terraform fmt -check -diff -recursive infra/terraform >"$OUT/terraform-fmt.log" 2>&1; then
    pass "terraform fmt -check infra/terraform"
  else
    fail "terraform fmt -check"; cat "$OUT/terraform-fmt.log"
  fi
  tf=$(mktemp -d); cp infra/terraform/*.tf "$tf/"
  if (cd "$tf" && timeout 120 terraform init -backend=false -input=false -no-color >"$ROOT/$OUT/terraform-init.log" 2>&1); then
    if (cd "$tf" && terraform validate -no-color) >"$OUT/terraform-validate.log" 2>&1; then
      pass "terraform validate"
    else
      fail "terraform validate"; cat "$OUT/terraform-validate.log"
    fi
  else
    skip "terraform validate: terraform init could not get the AWS provider (offline?), see $OUT/terraform-init.log"
  fi
  rm -rf "$tf"
else
  skip "terraform not installed: fmt/validate not checked"
fi

echo "== ${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
