# syntax=docker/dockerfile:1
#
# GPU worker image (worker-gpu/, `npm run worker`): Node 22 on an NVIDIA CUDA 13 + cuDNN 9 runtime,
# onnxruntime-node with its CUDA execution provider installed at build time. See docs/deploy.md.
#
#   docker build -f infra/docker/worker.Dockerfile -t ssd2-worker:dev .
#   docker run --rm --gpus all -p 8080:8080 -e S3_BUCKET=ssd2-models -e WORKER_AUTH_SECRETS="$(openssl rand -hex 32)" \
#     -e WORKER_DEFAULT_MODEL=core@0.2.0 ssd2-worker:dev
#
# Build arguments:
#   ORT_CUDA=cuda13 (default)  onnxruntime-node pinned to 1.29.0 plus libonnxruntime_providers_cuda.so and
#                              libonnxruntime_providers_shared.so (ORT 1.29.0 built for CUDA 13, Microsoft's MIT
#                              binaries) taken from the npm package com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9.
#                              Only the npm registry is needed. This is the combination that has run on an
#                              H100 (docs/gpu.md).
#   ORT_CUDA=cuda12            onnxruntime-node as locked in package-lock.json, with its own installer fetching the
#                              CUDA 12 provider from its package feed (the build network must reach it). That
#                              provider needs CUDA 12 libraries:
#                              --build-arg CUDA_IMAGE=nvidia/cuda:12.9.1-cudnn-runtime-ubuntu24.04
#   ORT_CUDA=cpu               no CUDA provider (the image still serves on the CPU provider).
#
# The build context is the repository root; .dockerignore keeps it to package*.json, tsconfig.json,
# shared/ and worker-gpu/.

ARG NODE_IMAGE=node:22-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04

# ---- bundle: worker-gpu/ + shared/ TypeScript into one ESM file; npm packages stay external ----
# (tsx, a devDependency, is what `npm run worker` uses; the image runs plain node on the bundle.)
FROM ${NODE_IMAGE} AS bundle
# Keep equal to the esbuild version in package-lock.json (infra/validate.sh checks it).
ARG ESBUILD_VERSION=0.28.2
RUN npm install --global --ignore-scripts --no-audit --no-fund "esbuild@${ESBUILD_VERSION}"
WORKDIR /src
COPY tsconfig.json ./
COPY shared ./shared
COPY worker-gpu ./worker-gpu
RUN esbuild worker-gpu/src/main.ts --bundle --platform=node --target=node22 --format=esm \
      --packages=external --sourcemap --log-level=warning --outfile=/out/worker.mjs \
 && esbuild worker-gpu/src/engine/threads/generation-thread.ts --bundle --platform=node --target=node22 --format=esm \
      --packages=external --sourcemap --log-level=warning --outfile=/out/generation-thread.mjs

# ---- deps: production node_modules with onnxruntime-node's CUDA provider ----
FROM ${NODE_IMAGE} AS deps
ARG ORT_CUDA=cuda13
ARG ORT_CUDA13_NODE_VERSION=1.29.0
ARG ORT_CUDA13_PROVIDER_PACKAGE=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts run: package.json `allowScripts` denies them, and --ignore-scripts makes that
# so for every npm version (the one in the Node image may predate allowScripts).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
# cuda12 runs what `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node --allow-scripts=onnxruntime-node`
# would: the package's own installer, told to fetch the CUDA 12 provider from its feed.
RUN set -eu; \
    bin=node_modules/onnxruntime-node/bin/napi-v6/linux/x64; \
    case "$ORT_CUDA" in \
      cuda13) \
        npm install --no-save --omit=dev --ignore-scripts --no-audit --no-fund "onnxruntime-node@${ORT_CUDA13_NODE_VERSION}"; \
        tmp=$(mktemp -d); \
        (cd "$tmp" && npm pack --silent "${ORT_CUDA13_PROVIDER_PACKAGE}" >/dev/null && tar -xzf ./*.tgz \
           package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so \
           package/Plugins/Linux/x64/libonnxruntime_providers_shared.so); \
        cp "$tmp/package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so" \
           "$tmp/package/Plugins/Linux/x64/libonnxruntime_providers_shared.so" "$bin/"; \
        rm -rf "$tmp"; \
        test "$(node -p "require('./node_modules/onnxruntime-node/package.json').version")" = "$ORT_CUDA13_NODE_VERSION"; \
        test -s "$bin/libonnxruntime_providers_cuda.so"; \
        test -s "$bin/libonnxruntime_providers_shared.so" ;; \
      cuda12) \
        (cd node_modules/onnxruntime-node && ONNXRUNTIME_NODE_INSTALL=cuda12 node script/install); \
        test -s "$bin/libonnxruntime_providers_cuda.so" ;; \
      cpu) ;; \
      *) echo "ORT_CUDA must be cuda13, cuda12 or cpu, not '$ORT_CUDA'" >&2; exit 1 ;; \
    esac; \
    npm cache clean --force; \
    node -e "const o=require('onnxruntime-node'); console.log('onnxruntime-node', require('./node_modules/onnxruntime-node/package.json').version, o.listSupportedBackends().map(b=>b.name).join(','))"; \
    ls -l "$bin"

# ---- runtime ----
FROM ${NODE_IMAGE} AS node
FROM ${CUDA_IMAGE} AS runtime
COPY --from=node /usr/local/bin/node /usr/local/bin/node
RUN groupadd --system --gid 10001 ssd2 \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin ssd2 \
 && mkdir -p /var/cache/ssd2 \
 && chown 10001:10001 /var/cache/ssd2
WORKDIR /app
COPY --from=deps /app/package.json ./package.json
COPY --from=deps /app/node_modules ./node_modules
COPY --from=bundle /out/ ./dist/
# Settings are environment variables (worker-gpu/src/config.ts): S3_BUCKET and WORKER_AUTH_SECRETS are
# required (without them the worker exits with status 2); S3_ENDPOINT, S3_REGION, S3_PREFIX,
# S3_FORCE_PATH_STYLE, AWS_* (or the pod's IAM role), WORKER_DEFAULT_MODEL, ... (docs/deploy.md).
# cuda first, cpu after it: a node without a usable GPU still serves (slowly) and /healthz says why.
ENV NODE_ENV=production \
    WORKER_HOST=0.0.0.0 \
    WORKER_PORT=8080 \
    SSD2_PROVIDERS=cuda,cpu \
    WORKER_CACHE_DIR=/var/cache/ssd2/models \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001:10001
EXPOSE 8080
VOLUME ["/var/cache/ssd2"]
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.WORKER_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM: the worker answers new requests 503 shutting_down while those in flight finish; fused
# generations still running after WORKER_DRAIN_SECONDS (30) end with an error line; then it exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--enable-source-maps", "dist/worker.mjs"]
