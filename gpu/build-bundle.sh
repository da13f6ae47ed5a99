#!/usr/bin/env bash
# Builds the lean GPU distribution of bonestream: a jlinked Java runtime, the CUDA backend's jars
# (no ND4J, no DJL tokenizer, no Flink), stories260K and the goldens, and bin/bonestream
# (selftest, bench). Runs on any Linux x86-64 machine with a JDK 17 (with jmods) and Maven.
#
#   gpu/build-bundle.sh [OUT_DIR]        (default: target/bonestream-gpu)
#
# The bundle needs, where it runs: an NVIDIA driver and the CUDA 13 runtime libraries
# (libcudart.so.13, libcublas.so.13, libcublasLt.so.13, libnvrtc.so.13), found through
# LD_LIBRARY_PATH (gpu/run-gpu-check.sh finds them).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/target/bonestream-gpu}
MVN_OPTS=${MVN_OPTS:--B -q}
cd "$ROOT"

if [ -z "${SKIP_MAVEN:-}" ]; then
  mvn $MVN_OPTS -pl cuda -am package -DskipTests
fi
JAVA_HOME=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
rm -rf "$OUT"
mkdir -p "$OUT/lib" "$OUT/bin" "$OUT/models" "$OUT/golden"

# java.base, plus sun.misc.Unsafe for JavaCPP and java.logging for its logger
"$JAVA_HOME/bin/jlink" --add-modules java.base,java.logging,jdk.unsupported \
  --strip-debug --no-header-files --no-man-pages --compress=2 --output "$OUT/jre"

cp cuda/target/gpu-lib/*.jar "$OUT/lib/"
cp cuda/target/bonestream-cuda-*.jar "$OUT/lib/"

mkdir -p "$OUT/models/stories260K/golden"
cp models/stories260K/config.json models/stories260K/model.safetensors models/stories260K/README.md \
  "$OUT/models/stories260K/"
cp models/stories260K/golden/greedy_from_bos_200.ids "$OUT/models/stories260K/golden/"
cp -r engine/src/test/resources/golden/. "$OUT/golden/"
mkdir -p "$OUT/task" && cp engine/src/test/resources/task/*.jsonl "$OUT/task/"

cat > "$OUT/bin/bonestream" <<'LAUNCHER'
#!/bin/sh
# bonestream, GPU distribution: selftest and bench (docs/gpu.md).
HERE=$(cd "$(dirname "$0")/.." && pwd)
exec "$HERE/jre/bin/java" ${BONESTREAM_JAVA_OPTS:--Xmx4g} -Dbonestream.home="$HERE" \
  -Dorg.bytedeco.javacpp.cachedir="${BONESTREAM_JAVACPP_CACHE:-${HOME:-/tmp}/.javacpp/cache}" \
  -cp "$HERE/lib/*" io.bonestream.engine.backend.cuda.GpuMain "$@"
LAUNCHER
chmod +x "$OUT/bin/bonestream"

SIZE=$(du -sm "$OUT" | cut -f1)
echo "gpu bundle: $OUT, ${SIZE} MB (jre $(du -sm "$OUT/jre" | cut -f1) MB, jars $(du -sm "$OUT/lib" | cut -f1) MB)"
if [ "$SIZE" -gt 60 ]; then
  echo "error: the gpu bundle is over 60 MB" >&2
  exit 1
fi
