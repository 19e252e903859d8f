#!/usr/bin/env bash
# Regenerates spinfer-sys/src/bindings.rs from capi/include/spinfer.h with bindgen.
#
#   regen-bindings.sh           rewrite the committed file
#   regen-bindings.sh --check   regenerate into a temporary file and fail (exit 1)
#                               if the committed file differs: CI runs this so the
#                               bindings can never drift from the header.
#
# The flags are fixed here, in one place, so every run produces the same file for the
# same header, bindgen and libclang. Formatting is done by rustfmt when it is on PATH;
# a rustfmt of another version may lay the same tokens out differently, so --check
# falls back to comparing the files with their layout removed (see tokens) before failing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
header="$here/../../capi/include/spinfer.h"
committed="$here/spinfer-sys/src/bindings.rs"

command -v bindgen >/dev/null || { echo "regen-bindings: bindgen not found (apt-get install bindgen)" >&2; exit 2; }

generate() {  # $1 = output file
  # --size_t-is-usize: size_t is usize on every platform Rust supports.
  # --no-prepend-enum-name: constants are named exactly as in C (SPINFER_STATUS_SUCCESS).
  # Enums stay plain integer constants (bindgen's default): a Rust enum would be
  # undefined behaviour if the library ever returned a value this file does not know.
  # The allowlists keep only the spinfer API, not what <stdint.h> drags in.
  bindgen "$header" \
    --no-rustfmt-bindings \
    --rust-target 1.47 \
    --size_t-is-usize \
    --no-prepend-enum-name \
    --allowlist-function 'spinfer_.*' \
    --allowlist-type 'spinfer_.*' \
    --allowlist-var 'SPINFER_.*' \
    --blocklist-type '__u?int(8|16|32|64)_t' \
    -o "$1" \
    -- -I"$here/../../capi/include"
  if command -v rustfmt >/dev/null; then
    rustfmt --edition 2021 "$1"
  fi
}

# The file with its layout removed: no whitespace, no trailing comma before a closing
# bracket (rustfmt adds those when it breaks a list over lines).
tokens() {
  tr -d ' \t\n' | sed -e 's/,)/)/g' -e 's/,}/}/g' -e 's/,]/]/g'
}

if [[ "${1:-}" == "--check" ]]; then
  tmp="$(mktemp --suffix=.rs)"
  trap 'rm -f "$tmp"' EXIT
  generate "$tmp"
  if cmp -s "$tmp" "$committed"; then
    echo "regen-bindings: $committed is up to date"
    exit 0
  fi
  if cmp -s <(tokens <"$tmp") <(tokens <"$committed"); then
    echo "regen-bindings: $committed has the same tokens (only rustfmt layout differs): up to date"
    exit 0
  fi
  echo "regen-bindings: $committed is stale; run bindings/rust/regen-bindings.sh and commit it" >&2
  diff -u "$committed" "$tmp" >&2 || true
  exit 1
fi

# Generate outside the tree so that no rustfmt.toml of a parent folder can change the layout.
tmp="$(mktemp --suffix=.rs)"
trap 'rm -f "$tmp"' EXIT
generate "$tmp"
cp "$tmp" "$committed"
echo "regen-bindings: wrote $committed"
