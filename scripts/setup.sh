#!/usr/bin/env bash
# Installs what building and testing spinfer needs, from Debian and PyPI. Safe to run
# twice: packages already present are skipped.
set -euo pipefail

APT_PACKAGES=(cmake ninja-build g++ pkg-config python3 doctest-dev nlohmann-json3-dev libcli11-dev libdlpack-dev
              swig default-jdk-headless maven junit5 libsurefire-java libmaven-compiler-plugin-java
              libmaven-resources-plugin-java libmaven-jar-plugin-java librust-libc-dev bindgen)
PIP_PACKAGES=(numpy pytest safetensors scikit-build-core ml_dtypes)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# cargo/rustc: the machine's own toolchain if it has one, else Debian's.
if ! command -v cargo >/dev/null 2>&1; then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends cargo rustc
fi
python3 -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
