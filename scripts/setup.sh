#!/usr/bin/env bash
# Set up unembed in ./.venv: CPU torch first (a plain `torch` would pull a multi-GB CUDA
# build), then the package with its test extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==${TORCH_VERSION:-2.13.0}"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
echo "unembed is installed in .venv ($(.venv/bin/unembed --version))" >&2
