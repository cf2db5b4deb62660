#!/usr/bin/env bash
# The test suite trains and exports a tiny model with PyTorch. Debian's PyTorch is used
# (/usr/bin/python3; set SSD2_PYTHON to use another interpreter). Installs it when missing and we can.
set -euo pipefail
py="${SSD2_PYTHON:-/usr/bin/python3}"
if "$py" -c 'import torch, onnx, numpy' 2>/dev/null; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing PyTorch for the training toolchain (apt-get: python3-torch python3-onnx python3-numpy)..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch python3-onnx python3-numpy libopenblas0-pthread >/dev/null
  exit 0
fi
echo "error: $py cannot import torch/onnx/numpy. Install them (Debian: sudo apt-get install python3-torch python3-onnx python3-numpy libopenblas0-pthread) or set SSD2_PYTHON." >&2
exit 1
