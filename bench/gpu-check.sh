#!/bin/bash
# GPU check for the worker: runs `npm run bench:worker` on an NVIDIA GPU machine with the cuda,
# webgpu and cpu providers, one after the other, following ../shared/gpu/README.md (recipe B:
# onnxruntime-node 1.29.0 + the CUDA 13 provider library from the npm package
# com.github.asus4.onnxruntime.linux-x64-gpu; the same onnxruntime-node build carries WebGPU).
#
#   here (npm, registry):   bash bench/gpu-check.sh prepare
#        builds .gpu-cuda/ (../shared/gpu/prepare-cuda.sh) and bundles the worker and the
#        benchmark into .gpu-cuda/base/app/ (esbuild; onnxruntime-node stays external).
#   there, from the project root, one copy at a time (see prepare-cuda.sh):
#        4 x: bring .gpu-cuda/stage.sh + .gpu-cuda/partN, run  bash .gpu-cuda/stage.sh
#        then bring .gpu-cuda/base, run                      bash bench/gpu-check.sh run
#        results: bench/results/worker-gpu-{cuda,webgpu,cpu}.md (copy them back, put the numbers
#        in the README beside the CPU ones).
set -euo pipefail
ROOT=$(git rev-parse --show-toplevel 2>/dev/null || pwd); cd "$ROOT"
APP=.gpu-cuda/base/app
MODEL=${MODEL:-models/tiny-core}

case "${1:-}" in
  prepare)
    bash ../shared/gpu/prepare-cuda.sh
    mkdir -p "$APP"
    # ESM bundles still call require() for Node built-ins inside CommonJS dependencies.
    banner="import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);"
    for pair in worker-gpu/src/main.ts:worker.mjs bench/worker.ts:bench-worker.mjs; do
      npx esbuild "${pair%%:*}" --bundle --platform=node --format=esm --target=node22 \
        --external:onnxruntime-node --banner:js="$banner" --outfile="$APP/${pair##*:}" --log-level=warning
    done
    du -sh .gpu-cuda/base
    ;;
  run)
    # shellcheck disable=SC1091
    source .gpu-cuda/base/setup.sh
    for provider in cuda webgpu cpu; do
      echo "== provider $provider"
      # A provider that cannot open a session falls through to the next one in the list; the
      # report's heading names the provider actually used (from /healthz).
      list=$provider; [ "$provider" = cpu ] || list="$provider,cpu"
      node "$APP/bench-worker.mjs" --model "$MODEL" --providers "$list" --worker-entry "$APP/worker.mjs" \
        --out "bench/results/worker-gpu-$provider.md" || echo "provider $provider failed"
    done
    ;;
  *)
    echo "usage: bash bench/gpu-check.sh prepare|run" >&2
    exit 2
    ;;
esac
