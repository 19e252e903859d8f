#!/usr/bin/env bash
# CI for the Rust binding (bindings/rust) -- offline, no GPU:
#   1. the committed bindgen output must match the header (regen-bindings.sh --check);
#   2. cargo test of both crates (unit, integration and doc tests) against libspinfer;
#   3. the cross-language scenario example, which must print the shared checksum.
#
# Usage: .ci/rust.sh BUILD_DIR    where BUILD_DIR is a CMake build of this repository
#        (BUILD_DIR/capi/libspinfer.so is linked). crates.io is never contacted.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:?usage: .ci/rust.sh BUILD_DIR}" && pwd)"
libdir="$build/capi"
if [[ ! -e "$libdir/libspinfer.so" ]]; then
  echo "rust.sh: $libdir/libspinfer.so not found; build the 'spinfer' target first" >&2
  exit 1
fi

# ---- toolchain: cargo on PATH (rustup) if there is one, else Debian's packages -------
[[ -x "$HOME/.cargo/bin/cargo" ]] && export PATH="$PATH:$HOME/.cargo/bin"
missing=()
command -v cargo >/dev/null || missing+=(cargo rustc)
command -v bindgen >/dev/null || missing+=(bindgen)
if ((${#missing[@]})); then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "rust.sh: installing ${missing[*]} from Debian"
  $sudo apt-get install -y --no-install-recommends "${missing[@]}" ||
    { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends "${missing[@]}"; }
fi
echo "rust.sh: $(cargo --version), $(rustc --version), $(bindgen --version)"

# ---- 1. bindings drift check ---------------------------------------------------------
"$root/bindings/rust/regen-bindings.sh" --check

# ---- 2. tests --------------------------------------------------------------------------
cd "$root/bindings/rust"
export SPINFER_LIB_DIR="$libdir"   # read by spinfer-sys/build.rs (link path + rpath)
export CARGO_NET_OFFLINE=true
export CARGO_TARGET_DIR="$build/cargo-target"
cargo test --offline --workspace

# ---- 3. the scenario example (examples/SCENARIO.md) -------------------------------------
out="$(cargo run --offline --quiet --example scenario)"
echo "$out"
grep -qx 'checksum = -26.937500' <<<"$out" ||
  { echo "rust.sh: scenario checksum differs from SCENARIO.md" >&2; exit 1; }
# ---- 4. the README's Rust block, as written, inside fn main() -> Result<(), spinfer::Error>,
#      compiled against the crate built above (its assert_eq! is the check) ---------------
cargo build --offline --quiet -p spinfer --lib  # target/debug/libspinfer.rlib (cargo test leaves only deps/)
snippet="$CARGO_TARGET_DIR/readme"
rm -rf "$snippet" && mkdir -p "$snippet"
block="$(python3 "$root/tests/readme/readme_snippet.py" "$root/README.md" rust)"
{ grep '^use ' <<<"$block"
  echo "fn main() -> Result<(), spinfer::Error> {"
  grep -v '^use ' <<<"$block"
  echo 'println!("README Rust block: OK");'
  echo "Ok(())"
  echo "}"; } > "$snippet/readme_snippet.rs"
rustc --edition 2021 "$snippet/readme_snippet.rs" -o "$snippet/readme_snippet" \
  --extern spinfer="$CARGO_TARGET_DIR/debug/libspinfer.rlib" -L dependency="$CARGO_TARGET_DIR/debug/deps" \
  -L native="$libdir" -C link-arg=-Wl,-rpath,"$libdir"
(cd "$snippet" && ./readme_snippet)
echo "rust.sh: OK"
