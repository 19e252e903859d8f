#!/usr/bin/env bash
# CI for the Java binding (bindings/java, examples/java).
#
#   bash .ci/java.sh --deps    install the apt packages the Java build needs; run it
#                              before configuring CMake with -DSPINFER_JAVA=ON
#   bash .ci/java.sh [BUILD]   with BUILD (default: build) an already-built CMake tree
#                              configured with -DSPINFER_JAVA=ON: builds the jar and runs
#                              the JUnit 5 tests with Maven, offline against Debian's
#                              repository, then runs the Java scenario example.
#
# Maven Central is unreachable in CI: bindings/java/maven-settings.xml mirrors every
# repository to file:///usr/share/maven-repo (Debian's packaged artifacts).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APT_PACKAGES=(default-jdk-headless maven swig junit5 libsurefire-java
              libmaven-compiler-plugin-java libmaven-resources-plugin-java
              libmaven-jar-plugin-java)

install_deps() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    echo "java.sh: apt packages already installed"
    return
  fi
  local sudo=""
  if [[ $(id -u) != 0 ]]; then sudo=sudo; fi
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -y install --no-install-recommends "${missing[@]}"
}

if [[ ${1:-} == --deps ]]; then
  install_deps
  exit 0
fi

install_deps
BUILD=$(cd "${1:-build}" && pwd)
JNI_DIR="$BUILD/bindings/java"
if [[ ! -f "$JNI_DIR/libspinfer_jni.so" || ! -d "$JNI_DIR/classes/io/spinfer/jni" ]]; then
  echo "java.sh: $JNI_DIR has no JNI library or generated classes;" \
       "build the CMake project with -DSPINFER_JAVA=ON first" >&2
  exit 1
fi

# 1. Jar + JUnit 5 tests (surefire prints "Tests run: X, Failures: Y, Errors: Z, Skipped: W").
# Debian ships no maven-clean-plugin: a fresh target/ replaces "mvn clean".
cd "$ROOT/bindings/java"
rm -rf target
mvn -B -ntp -s maven-settings.xml -o -Daether.offline.protocols=file \
    -Dmaven.repo.local="$BUILD/bindings/java/m2" \
    -Dspinfer.build.dir="$BUILD" \
    verify

# 2. The runnable example: the shared cross-language scenario, asserting its numbers.
JAR="$ROOT/bindings/java/target/spinfer-0.1.0.jar"
OUT=$(java -cp "$JAR" -Dspinfer.library.path="$JNI_DIR" "$ROOT/examples/java/Scenario.java")
echo "$OUT"
grep -qx "checksum = -26.937500" <<<"$OUT"

# 3. The same against the installed library (scripts/test.sh exports SPINFER_PREFIX):
#    libspinfer_jni.so next to libspinfer.so, found through its $ORIGIN RPATH.
if [[ -n ${SPINFER_PREFIX:-} && -f "$SPINFER_PREFIX/lib/libspinfer_jni.so" ]]; then
  OUT=$(java -cp "$JAR" -Dspinfer.library.path="$SPINFER_PREFIX/lib" "$ROOT/examples/java/Scenario.java")
  grep -qx "checksum = -26.937500" <<<"$OUT"
  echo "java.sh: installed JNI library OK ($SPINFER_PREFIX/lib)"
fi
# 4. The README's Java block, as written, inside a class that imports what it uses; it
#    must print what its last comment says.
SNIPPET="$BUILD/bindings/java/readme"
rm -rf "$SNIPPET" && mkdir -p "$SNIPPET"
{ echo "import io.spinfer.*; import java.nio.file.Path;"
  echo "public class ReadmeSnippet { public static void main(String[] args) throws Exception {"
  python3 "$ROOT/tests/readme/readme_snippet.py" "$ROOT/README.md" java
  echo "} }"; } > "$SNIPPET/ReadmeSnippet.java"
OUT=$(cd "$SNIPPET" && java -cp "$JAR" -Dspinfer.library.path="$JNI_DIR" ReadmeSnippet.java)
echo "README Java block: $OUT"
grep -qx "9600 non-zeros, y\[0\] = 50.0" <<<"$OUT"
echo "java.sh: Java binding OK"
