#!/usr/bin/env bash
# npm run prepare:data trains its BPE with Hugging Face's `tokenizers` (Python). Installs it into
# .cache/pylib for the training Python (SSD2_PYTHON, else /usr/bin/python3) when it is missing.
set -euo pipefail
py="${SSD2_PYTHON:-/usr/bin/python3}"
if PYTHONPATH=.cache/pylib "$py" -c 'import tokenizers' 2>/dev/null; then exit 0; fi
echo "installing Python tokenizers 0.23.2 into .cache/pylib..." >&2
mkdir -p .cache/whl .cache/pylib
# Any pip that reaches a package index downloads the wheel (abi3: one wheel for every CPython >= 3.10).
for pip in "python3 -m pip" "$py -m pip"; do
  $pip download -q --no-deps --only-binary=:all: tokenizers==0.23.2 -d .cache/whl 2>/dev/null && break
done
"$py" -m pip install -q --no-deps --no-index --target .cache/pylib .cache/whl/tokenizers-0.23.2-*.whl
