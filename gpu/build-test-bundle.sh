#!/usr/bin/env bash
# Builds the GPU check bundle: what the GPU slices (gpu/slice-*.sh, docs/gpu.md) run on a machine
# without Java or Maven, packed as one OUT_DIR.tar.xz of at most 48 MiB (so that it travels with
# the repository's own files in an upload of 64 MiB):
#   - a jlinked Java runtime (java.base, java.logging, java.xml, jdk.unsupported);
#   - the lean GPU distribution's jars (gpu/build-bundle.sh: engine, CUDA backend, Jackson,
#     JavaCPP; no ND4J, no Flink) and OpenBLAS, for `selftest --backend cpu`;
#   - bin/bonestream: selftest, bench, kernels (GpuMain);
#   - the cuda module's test classes, the engine's test jar and JUnit's console launcher
#     (junit-platform-console-standalone), and bin/run-tests, which runs the CUDA tests and writes
#     JUnit XML reports;
#   - stories260K, the goldens and the 200-step task.
#
#   gpu/build-test-bundle.sh [OUT_DIR]        (default: target/bonestream-check)
#   tar -xJf bonestream-check.tar.xz && bonestream-check/bin/run-tests REPORTS_DIR
#
# Runs on any Linux x86-64 machine with a JDK 17 (with jmods), Maven and xz. SKIP_MAVEN=1 uses the
# existing build (cuda/target, engine/target). The console launcher comes from the local Maven
# repository, fetched there by Maven if it is missing (MVN_OPTS=-o: offline, then it must be there).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/target/bonestream-check}
OUT=$(mkdir -p "$(dirname "$OUT")" && cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
MVN_OPTS=${MVN_OPTS:--B -q}
XZ_OPTS=${XZ_OPTS:--9 -T1}
MAX_MIB=48
cd "$ROOT"

if [ -z "${SKIP_MAVEN:-}" ]; then
  # package without running the tests: the test classes and the engine's test jar are built too
  mvn $MVN_OPTS -pl cuda -am package -DskipTests
fi
for need in cuda/target/gpu-lib cuda/target/cpu-lib cuda/target/test-classes; do
  [ -d "$need" ] || { echo "error: $need is missing: run without SKIP_MAVEN" >&2; exit 1; }
done
ENGINE_TESTS=$(ls engine/target/bonestream-engine-*-tests.jar 2>/dev/null | head -1 || true)
CUDA_JAR=$(ls cuda/target/bonestream-cuda-*.jar 2>/dev/null | grep -v -- '-tests\.jar$' | head -1 || true)
[ -n "$ENGINE_TESTS" ] && [ -n "$CUDA_JAR" ] || { echo "error: no engine test jar or cuda jar: run without SKIP_MAVEN" >&2; exit 1; }
JAVA_HOME=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
command -v xz >/dev/null || { echo "error: xz is needed" >&2; exit 1; }

# JUnit's console launcher of the project's JUnit (platform 1.x for Jupiter 5.x)
JUNIT=$(sed -n 's:.*<junit.version>\(.*\)</junit.version>.*:\1:p' pom.xml | head -1)
PLATFORM=1.${JUNIT#5.}
REPO=${MAVEN_REPO:-$HOME/.m2/repository}
CONSOLE=$REPO/org/junit/platform/junit-platform-console-standalone/$PLATFORM/junit-platform-console-standalone-$PLATFORM.jar
if [ ! -f "$CONSOLE" ]; then
  mvn $MVN_OPTS dependency:get -Dartifact="org.junit.platform:junit-platform-console-standalone:$PLATFORM" -Dtransitive=false
fi
[ -f "$CONSOLE" ] || { echo "error: $CONSOLE is missing" >&2; exit 1; }

rm -rf "$OUT" "$OUT.tar.xz"
mkdir -p "$OUT/lib" "$OUT/tests" "$OUT/bin" "$OUT/models/stories260K/golden" "$OUT/golden" "$OUT/task" \
  "$OUT/engine/src/test/resources"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cp cuda/target/gpu-lib/*.jar "$CUDA_JAR" "$OUT/lib/"
# OpenBLAS for the CPU device: only what openblas_nolapack loads (libopenblas, its JNI library and
# the Fortran runtime), stored without compression so that xz compresses across it
for jar in cuda/target/cpu-lib/*.jar; do
  x="$WORK/x" && rm -rf "$x" && mkdir -p "$x"
  (cd "$x" && unzip -q "$ROOT/$jar")
  find "$x" \( -name 'libjniopenblas.so' -o -name '*.h' -o -name '*.dll' -o -name '*.dylib' \) -delete
  find "$x" -path '*/org/bytedeco/openblas/*' -type d \( -name 'windows-*' -o -name 'macosx-*' -o -name 'android-*' \
    -o -name 'linux-arm*' -o -name 'linux-ppc*' -o -name 'linux-x86' -o -name 'ios-*' \) -prune -exec rm -rf {} +
  find "$x" -type d -empty -delete
  (cd "$x" && zip -q -0 -X -D -r "$OUT/lib/$(basename "$jar")" .)
done
(cd cuda/target/test-classes && zip -q -0 -X -D -r "$OUT/tests/bonestream-cuda-tests.jar" .)
cp "$ENGINE_TESTS" "$OUT/tests/"
cp "$CONSOLE" "$OUT/tests/junit-platform-console-standalone.jar"

cp models/stories260K/config.json models/stories260K/model.safetensors models/stories260K/README.md \
  "$OUT/models/stories260K/"
cp models/stories260K/golden/greedy_from_bos_200.ids "$OUT/models/stories260K/golden/"
cp -r engine/src/test/resources/golden "$OUT/engine/src/test/resources/"   # where the tests look (TestFiles)
cp -r engine/src/test/resources/golden/. "$OUT/golden/"                    # where bin/bonestream looks
cp engine/src/test/resources/task/*.jsonl "$OUT/task/"

# Uncompressed: xz compresses it better than jlink's own compression
"$JAVA_HOME/bin/jlink" --add-modules java.base,java.logging,java.xml,jdk.unsupported \
  --strip-debug --no-header-files --no-man-pages --output "$OUT/jre"

cat > "$OUT/bin/bonestream" <<'LAUNCHER'
#!/bin/sh
# bonestream selftest | bench | kernels (docs/gpu.md), on the bundle's runtime and jars.
HERE=$(cd "$(dirname "$0")/.." && pwd)
exec "$HERE/jre/bin/java" ${BONESTREAM_JAVA_OPTS:--Xmx8g} -Dbonestream.home="$HERE" \
  -Dorg.bytedeco.javacpp.cachedir="${BONESTREAM_JAVACPP_CACHE:-${HOME:-/tmp}/.javacpp/cache}" \
  -cp "$HERE/lib/*" io.bonestream.engine.backend.cuda.GpuMain "$@"
LAUNCHER
cat > "$OUT/bin/run-tests" <<'LAUNCHER'
#!/bin/sh
# Runs the CUDA tests with JUnit's console launcher; JUnit XML reports go to REPORTS_DIR.
#   bin/run-tests REPORTS_DIR [more console launcher options]
# TESTS: the test classes (default: the ones that need no ND4J); exit code 0 when every test passed.
# Where a GPU is present a backend that does not start fails the tests (BONESTREAM_CUDA_TESTS=skip
# skips them on purpose).
HERE=$(cd "$(dirname "$0")/.." && pwd)
REPORTS=${1:?usage: bin/run-tests REPORTS_DIR [options]}
shift
mkdir -p "$REPORTS"
REPORTS=$(cd "$REPORTS" && pwd)
P=io.bonestream.engine.backend.cuda
TESTS=${TESTS:-"CudaBackendTest NvrtcArchTest CudaBackendProviderTest CudaTestGateTest MergePathTest ArchCheckTest GpuMainTest"}
SELECT=""
for t in $TESTS; do SELECT="$SELECT --select-class $P.$t"; done
CP=$(ls "$HERE"/lib/*.jar "$HERE"/tests/bonestream-*.jar | tr '\n' ':')
cd "$HERE" # the tests find models/ and the goldens above the working folder
exec "$HERE/jre/bin/java" ${BONESTREAM_JAVA_OPTS:--Xmx8g} -Dbonestream.home="$HERE" \
  -Dorg.bytedeco.javacpp.cachedir="${BONESTREAM_JAVACPP_CACHE:-${HOME:-/tmp}/.javacpp/cache}" \
  -jar "$HERE/tests/junit-platform-console-standalone.jar" execute --disable-banner --disable-ansi-colors \
  --details=tree --include-engine=junit-jupiter --fail-if-no-tests --class-path "$CP" $SELECT \
  --reports-dir "$REPORTS" "$@"
LAUNCHER
chmod +x "$OUT/bin/bonestream" "$OUT/bin/run-tests"

# the runtime can start the launcher and the tests' classes load
TESTS=MergePathTest "$OUT/bin/run-tests" "$WORK/reports" \
  > "$WORK/smoke.txt" 2>&1 || { cat "$WORK/smoke.txt" >&2; echo "error: the bundle's test launcher fails" >&2; exit 1; }

echo "packing $OUT.tar.xz (xz $XZ_OPTS) ..."
tar -C "$(dirname "$OUT")" -cf - "$(basename "$OUT")" | xz $XZ_OPTS > "$OUT.tar.xz"
BYTES=$(stat -c %s "$OUT.tar.xz")
MIB=$(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "check bundle: $OUT.tar.xz, $MIB MiB ($BYTES bytes); unpacked $(du -sm "$OUT" | cut -f1) MB" \
  "(jre $(du -sm "$OUT/jre" | cut -f1) MB, jars $(du -sm "$OUT/lib" | cut -f1) MB, tests $(du -sm "$OUT/tests" | cut -f1) MB)"
if [ "$BYTES" -gt $((MAX_MIB * 1048576)) ]; then
  echo "error: the check bundle is $MIB MiB, over the limit of $MAX_MIB MiB" >&2
  exit 1
fi
