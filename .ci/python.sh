#!/usr/bin/env bash
# Python binding CI: build and install the `spinfer` package into a fresh virtual
# environment with torch and transformers, run its pytest suite (host backend; the
# CuPy and GPU tests skip) and the cross-language scenario example.
#
#   bash .ci/python.sh [BUILD_ROOT]      (default BUILD_ROOT: build)
#
# With SPINFER_PREFIX=<prefix of an installed libspinfer> only the SWIG module is
# compiled and linked against it (find_package(spinfer)); without it the package
# builds libspinfer from this repository itself, as `pip install ./bindings/python`
# does on a fresh machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(cd "$ROOT" && mkdir -p "${1:-build}" && cd "${1:-build}" && pwd)/python-ci"
PY="${PYTHON:-python3}"

# ---- dependencies: numpy, pytest, ml_dtypes, safetensors, scikit-build-core, swig --
"$PY" -m pip install -q --disable-pip-version-check numpy pytest ml_dtypes safetensors \
  "scikit-build-core>=0.10"
rm -rf "$WORK"
if ! "$PY" -m venv --system-site-packages "$WORK/venv"; then
  # Debian's system python3 keeps venv in a separate package.
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
  rm -rf "$WORK" && "$PY" -m venv --system-site-packages "$WORK/venv"
fi
VPY="$WORK/venv/bin/python"
export PATH="$WORK/venv/bin:$PATH"
if ! command -v swig >/dev/null 2>&1; then
  "$VPY" -m pip install -q --disable-pip-version-check swig  # SWIG's PyPI wheel
fi
# torch and transformers (PyPI wheels, about 1 minute and 5 GB), so that the
# spinfer.torch tests run here too, the save/reload of a patched model among them.
# SPINFER_CI_TORCH=0 leaves them out (those tests then skip).
if [[ "${SPINFER_CI_TORCH:-1}" != 0 ]]; then
  "$VPY" -m pip install -q --disable-pip-version-check torch transformers ||
    echo "python.sh: torch / transformers not installed (PyPI unreachable?): their tests skip"
fi

# ---- build and install the package ------------------------------------------------
if [[ -n "${SPINFER_PREFIX:-}" ]]; then
  export SPINFER_ROOT="$SPINFER_PREFIX"
  echo "spinfer python: linking the installed libspinfer in $SPINFER_ROOT"
fi
"$VPY" -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps \
  -C build-dir="$WORK/build" "$ROOT/bindings/python"

# ---- tests, from outside the source tree so that the installed package is used ----
cd "$WORK"
"$VPY" -c "import spinfer; print('spinfer', spinfer.__version__, 'from', spinfer.__file__, \
'cuda' if spinfer.has_cuda() else 'host-only')"
"$VPY" -m pytest -q -p no:cacheprovider "$ROOT/bindings/python/tests"
# The converter's end-to-end check again, now where transformers is installed: the
# dense-with-zeros, sharded and compressed-tensors checkpoints must give transformers'
# greedy tokens on the CPU (the ctest run has no torch and compares with numpy only).
LIB="$(cd "$ROOT" && pwd)/${1:-build}/capi/libspinfer.so"
if "$VPY" -c "import torch, transformers" 2>/dev/null && [[ -f "$LIB" ]]; then
  "$VPY" "$ROOT/tests/python/test_convert.py" "$LIB" | tee "$WORK/convert.out"
  if grep -q "transformers/torch not installed" "$WORK/convert.out"; then
    echo "python.sh: test_convert.py did not compare with transformers"; exit 1
  fi
fi
"$VPY" "$ROOT/examples/python/scenario.py" | tee "$WORK/scenario.out"
grep -qx "checksum = -26.937500" "$WORK/scenario.out"
# The README's Python block, as written (its y checked against x @ w.T in float64).
"$VPY" "$ROOT/tests/readme/readme_snippet.py" "$ROOT/README.md" --run-python
