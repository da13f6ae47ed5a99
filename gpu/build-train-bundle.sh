#!/usr/bin/env bash
# Builds the training distribution of bonestream: the full command line's jars that `bonestream
# train` needs (the engine on ND4J + OpenBLAS, and the CUDA backend), a jlinked Java runtime,
# stories260K and the colors example data, and bin/bonestream; packed as OUT_DIR.tar.xz (at most
# 60 MiB) for a machine without Java:
#
#   gpu/build-train-bundle.sh [OUT_DIR]        (default: target/bonestream-train)
#   tar -xJf bonestream-train.tar.xz && bonestream-train/bin/bonestream train --backend cuda ...
#
# Runs on any Linux x86-64 machine with a JDK 17 (with jmods), Maven, zip/unzip, strip/readelf
# (binutils; optional) and xz; about 5 minutes, most of it xz. SKIP_MAVEN=1 uses the job's existing
# build (job/target). XZ_OPTS: xz's options (default -9e -T1; one thread matters: -T0 splits the
# input into blocks and comes out about 5 MiB bigger, over the limit).
#
# To stay small (59.7 MiB with the jars of this commit; the script fails above 60 MiB):
# - only the jars train loads: no Flink runtime, Kafka broker, Scala, Prometheus, jfreechart, nor
#   ND4J's shaded Jackson, OSHI, JNA platform, Commons Compress; kafka-clients, flink-core and avro
#   cut down to the few classes picocli loads to read the Kafka and Flink commands' signatures;
# - in the jars: no native libraries for other platforms than linux-x86_64, of JavaCPP's CUDA
#   bindings only cudart, cublas and nvrtc, symbol tables stripped (libnd4jcpu.so: 315 -> 292 MB);
# - a jlinked runtime of 9 modules without java.desktop's native libraries (AWT, fonts, sound);
# - jars stored without compression and the runtime's modules uncompressed, so that xz compresses
#   across it all (libnd4jcpu.so: 83 MB deflated in its jar, about 22 MB in the .tar.xz).
# The bundle also holds gpu/run-train-check.sh, to run on the GPU machine.
#
# JOB=1 builds the job bundle instead (default OUT_DIR target/bonestream-job): every jar of the
# command line (Flink, the Kafka broker and clients too), a runtime of java.se and the JDK modules
# they use, and gpu/run-job-check.sh (the demo with --backend cuda); packed the same way, then cut
# into pieces of at most PART_MIB (default 54) MiB, OUT_DIR.tar.xz.0, .1, ... (cat them back
# together to unpack), for machines that take one piece at a time (an upload of 64 MiB with the
# repository's own files). It also holds the application jar (app/job.jar) and the Flink cluster's
# lib folder (cluster-lib/), for gpu/slice-4-cluster.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOB=${JOB:-0}
OUT=${1:-$ROOT/target/bonestream-$([ "$JOB" = 1 ] && echo job || echo train)}
OUT=$(mkdir -p "$(dirname "$OUT")" && cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
MVN_OPTS=${MVN_OPTS:--B -q}
XZ_OPTS=${XZ_OPTS:--9e -T1}
MAX_MIB=60
cd "$ROOT"

# The jars of job/target/lib to keep, by artifact name (the file name before its version); the
# script stops if one is missing. Left out of ND4J's dependencies, which train never loads: its
# shaded Jackson (JSON serde of configs and evaluations), OSHI + JNA platform (system info),
# Commons Compress (archives).
KEEP="
  bonestream-core bonestream-engine bonestream-cuda bonestream-subscriber bonestream-serve bonestream-schemas picocli
  nd4j-api nd4j-common nd4j-native nd4j-native-api nd4j-native-preset nd4j-presets-common
  openblas javacpp cuda
  guava failureaccess listenablefuture protobuf flatbuffers-java jna
  commons-math3 commons-lang3 commons-io commons-collections4 commons-codec
  commons-net threetenbp neoitertools byteunits algebra big-math java-ipv6 encode derive4j-annotation
  jackson-annotations jackson-core jackson-databind jackson-dataformat-yaml jackson-datatype-jdk8
  snakeyaml jinjava hubspot-style immutable-collection-encodings immutables-exceptions javassist
  re2j gson api tokenizers
  log4j-api log4j-core log4j-slf4j2-impl slf4j-api
  checker-qual error_prone_annotations j2objc-annotations jsr305 jspecify
  flink-core kafka-clients avro
"
# Jars that only picocli needs, to read the method signatures of the Kafka and Flink commands when
# it builds the command tree: cut down to the classes that building it loads.
SIGNATURES_ONLY="kafka-clients flink-core avro"
# The runtime's modules: what the kept jars use on train's paths (java.desktop only for java.beans:
# log4j, jackson, jinjava; java.naming: without it log4j warns on every start). The command
# classes' signatures need no more (bonestream --help runs).
MODULES=java.base,java.desktop,java.logging,java.management,java.naming,java.sql,java.xml
MODULES=$MODULES,jdk.management,jdk.unsupported
# java.desktop's native libraries: AWT, fonts, images, sound; a headless java.beans needs none.
HEADLESS_DROP="libawt.so libawt_headless.so libawt_xawt.so libfontmanager.so libjavajpeg.so libjawt.so
  libjsound.so liblcms.so libmlib_image.so libsplashscreen.so"

if [ "$JOB" = 1 ]; then
  # every jar: the demo runs the broker, Flink and the inference server in its process
  KEEP=$(ls job/target/lib/*.jar | xargs -n1 basename | sed -E 's/\.jar$//; s/-[0-9].*$//' | sort -u)
  SIGNATURES_ONLY=""
  MODULES=java.se,jdk.httpserver,jdk.unsupported,jdk.management,jdk.crypto.ec,jdk.zipfs,jdk.naming.dns
fi

if [ -z "${SKIP_MAVEN:-}" ]; then
  mvn $MVN_OPTS -pl job -am package -DskipTests
fi
JOB_JAR=$(ls job/target/bonestream-job-*.jar 2>/dev/null | grep -v -- '-flink\.jar$' | head -1 || true)
if [ -z "$JOB_JAR" ] || [ ! -d job/target/lib ]; then
  echo "error: no job build (job/target/bonestream-job-*.jar, job/target/lib): run without SKIP_MAVEN" >&2
  exit 1
fi
JAVA_HOME=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
for tool in zip unzip xz; do
  command -v $tool >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done

rm -rf "$OUT" "$OUT.tar.xz"
mkdir -p "$OUT/lib" "$OUT/bin" "$OUT/models/stories260K" "$OUT/data"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Takes the symbol tables (not the dynamic ones) out of the ELF libraries under a folder that have them.
strip_natives() {
  command -v strip >/dev/null && command -v readelf >/dev/null || return 0
  find "$1" -type f \( -name '*.so' -o -name '*.so.[0-9]*' \) | while read -r so; do
    if readelf -S -W "$so" 2>/dev/null | grep -q ' \.symtab '; then
      strip --strip-unneeded "$so"
    fi
  done
}

# Copies a jar stored (no compression), without native libraries for other platforms.
repack() {
  local src=$1 dst=$2 x="$WORK/x"
  rm -rf "$x" && mkdir -p "$x"
  (cd "$x" && unzip -q "$src")
  # kept: linux-x86_64 folders, RocksDB's glibc x86-64 library (the cluster's state backend) and
  # Netty's epoll transport for x86-64, which name the platform in the file name instead
  find "$x" -type f \( -name '*.so' -o -name '*.so.[0-9]*' -o -name '*.dll' -o -name '*.dylib' \
      -o -name '*.jnilib' -o -name '*.a' \) \
    | { grep -v -E '/linux-x86[-_]64[-/]|/librocksdbjni-linux64\.so$|_epoll_x86_64\.so$' || true; } | xargs -r rm -f
  # JavaCPP's CUDA presets: only the bindings the CUDA backend uses (cudart, cublas, nvrtc)
  find "$x" -path '*/org/bytedeco/cuda/*' -name 'libjni*.so' \
    ! -name libjnicudart.so ! -name libjnicublas.so ! -name libjninvrtc.so -delete
  find "$x" -type d -empty -delete
  strip_natives "$x"
  rm -f "$dst"
  (cd "$x" && { [ ! -f META-INF/MANIFEST.MF ] || zip -q -0 -X -D "$dst" META-INF/MANIFEST.MF; } \
     && zip -q -0 -X -D -r "$dst" . -x META-INF/MANIFEST.MF)
}

kept=""
for name in $KEEP; do
  n=0
  for jar in job/target/lib/*.jar; do
    base=$(basename "$jar" .jar)
    if [ "$(echo "$base" | sed -E 's/-[0-9].*$//')" = "$name" ]; then
      repack "$ROOT/$jar" "$OUT/lib/$base.jar"
      kept="$kept $base.jar"
      n=$((n + 1))
    fi
  done
  if [ "$n" = 0 ]; then
    echo "error: no jar for $name in job/target/lib (the KEEP list needs updating)" >&2
    exit 1
  fi
done
repack "$ROOT/$JOB_JAR" "$OUT/lib/$(basename "$JOB_JAR")"
echo "jars: $(basename "$JOB_JAR")$kept"

if [ "$JOB" = 1 ]; then
  # A Flink cluster of separate processes (docs/cluster.md; gpu/slice-4-cluster.sh): the
  # application jar as app/job.jar, and the cluster's lib folder (job/flink-lib/target/lib) as
  # cluster-lib/: links to the same jars in lib/, the others packed here
  FLINK_JAR=$(ls job/target/bonestream-job-*-flink.jar 2>/dev/null | head -1 || true)
  if [ -z "$FLINK_JAR" ] || [ ! -d job/flink-lib/target/lib ]; then
    echo "error: no application jar or job/flink-lib/target/lib: run without SKIP_MAVEN" >&2
    exit 1
  fi
  mkdir -p "$OUT/app" "$OUT/cluster-lib"
  repack "$ROOT/$FLINK_JAR" "$OUT/app/job.jar"
  own=0
  for jar in job/flink-lib/target/lib/*.jar; do
    b=$(basename "$jar")
    if [ -f "$OUT/lib/$b" ]; then
      ln -s "../lib/$b" "$OUT/cluster-lib/$b"
    else
      repack "$ROOT/$jar" "$OUT/cluster-lib/$b"
      own=$((own + 1))
    fi
  done
  echo "cluster lib: $(ls "$OUT/cluster-lib" | wc -l) jars, $own of them not in lib/ ($(du -shL "$OUT/cluster-lib" | cut -f1) with the links followed)"
fi

# Uncompressed: xz compresses it better than jlink's own compression.
"$JAVA_HOME/bin/jlink" --add-modules "$MODULES" \
  --strip-debug --no-header-files --no-man-pages --output "$OUT/jre"
for so in $HEADLESS_DROP; do rm -f "$OUT/jre/lib/$so"; done
strip_natives "$OUT/jre"

# The signature-only jars, cut down to the classes that `--help` loads (every command line builds
# the whole command tree first; train itself uses none of them).
"$OUT/jre/bin/java" -Xlog:class+load=info:file="$WORK/loaded.txt" -cp "$OUT/lib/*" \
  io.bonestream.cli.BonestreamCli --help > "$WORK/help.txt" 2>&1 || {
  cat "$WORK/help.txt" >&2
  echo "error: bonestream --help fails on the bundle's jars" >&2
  exit 1
}
for name in $SIGNATURES_ONLY; do
  for jar in "$OUT"/lib/"$name"-[0-9]*.jar; do
    x="$WORK/x" && rm -rf "$x" && mkdir -p "$x"
    (cd "$x" && unzip -q "$jar" 'META-INF/MANIFEST.MF' 2>/dev/null || true)
    grep -F "source: file:$jar" "$WORK/loaded.txt" | awk '{ print $2 }' | tr . / \
      | sed 's/$/.class/' | sort -u > "$WORK/classes.txt"
    (cd "$x" && unzip -q "$jar" $(cat "$WORK/classes.txt"))
    echo "$(basename "$jar"): $(wc -l < "$WORK/classes.txt") classes kept (signatures only)"
    rm -f "$jar"
    (cd "$x" && { [ ! -f META-INF/MANIFEST.MF ] || zip -q -0 -X -D "$jar" META-INF/MANIFEST.MF; } \
       && zip -q -0 -X -D -r "$jar" . -x META-INF/MANIFEST.MF)
  done
done

cp models/stories260K/config.json models/stories260K/generation_config.json \
  models/stories260K/model.safetensors models/stories260K/tokenizer.json \
  models/stories260K/tokenizer_config.json models/stories260K/README.md "$OUT/models/stories260K/"
cp examples/colors.jsonl examples/colors-heldout.jsonl "$OUT/data/"
# what bin/bonestream-gpu selftest reads: the greedy golden, the training goldens, the 200-step task
mkdir -p "$OUT/models/stories260K/golden" "$OUT/golden" "$OUT/task"
cp models/stories260K/golden/greedy_from_bos_200.ids "$OUT/models/stories260K/golden/"
cp -r engine/src/test/resources/golden/. "$OUT/golden/"
cp engine/src/test/resources/task/*.jsonl "$OUT/task/"
mkdir -p "$OUT/gpu" && cp gpu/run-train-check.sh gpu/run-job-check.sh gpu/cuda-libs.sh "$OUT/gpu/"

cat > "$OUT/bin/bonestream" <<'LAUNCHER'
#!/bin/sh
# bonestream, training distribution (gpu/build-train-bundle.sh): the command line on its own Java
# runtime. JVM options: BONESTREAM_JAVA_OPTS; JavaCPP's cache: BONESTREAM_JAVACPP_CACHE.
HERE=$(cd "$(dirname "$0")/.." && pwd)
exec "$HERE/jre/bin/java" ${BONESTREAM_JAVA_OPTS:-} \
  -Dorg.apache.avro.SERIALIZABLE_PACKAGES=io.bonestream.schemas \
  -Dbonestream.home="$HERE" \
  -Dorg.bytedeco.javacpp.cachedir="${BONESTREAM_JAVACPP_CACHE:-${HOME:-/tmp}/.javacpp/cache}" \
  -Dai.djl.offline=true \
  -cp "$HERE/lib/*" io.bonestream.cli.BonestreamCli "$@"
LAUNCHER
chmod +x "$OUT/bin/bonestream"
# the lean GPU bundle's command line (selftest, bench, kernels) on these jars, for
# gpu/run-gpu-check.sh's GPU_CMD: ND4J on the classpath beside the CUDA backend
cat > "$OUT/bin/bonestream-gpu" <<'LAUNCHER'
#!/bin/sh
# bonestream selftest | bench | kernels (docs/gpu.md) on the training distribution's runtime and jars.
HERE=$(cd "$(dirname "$0")/.." && pwd)
exec "$HERE/jre/bin/java" ${BONESTREAM_JAVA_OPTS:--Xmx8g} -Dbonestream.home="$HERE" \
  -Dorg.bytedeco.javacpp.cachedir="${BONESTREAM_JAVACPP_CACHE:-${HOME:-/tmp}/.javacpp/cache}" \
  -cp "$HERE/lib/*" io.bonestream.engine.backend.cuda.GpuMain "$@"
LAUNCHER
chmod +x "$OUT/bin/bonestream-gpu"

cat > "$OUT/README.txt" <<'README'
bonestream, training distribution: `bonestream train` (and the other offline commands) on its own
Java runtime, on the CPU (ND4J + OpenBLAS) or with --backend cuda (NVIDIA driver and the CUDA 13
libraries libcudart.so.13, libcublas.so.13, libcublasLt.so.13, libnvrtc.so.13 on LD_LIBRARY_PATH).

  bin/bonestream train --model models/stories260K --data data/colors.jsonl \
    --eval-data data/colors-heldout.jsonl --method bat --r 4 --lr 1e-2 --batch-size 8 --steps 60 \
    --backend cuda --out runs/colors

gpu/run-train-check.sh [BUNDLE_DIR] [OUT_DIR] trains on the GPU and on the CPU and compares.
bin/bonestream-gpu selftest|bench|kernels: the GPU checks of docs/gpu.md on these jars.
README
if [ "$JOB" = 1 ]; then
  cat >> "$OUT/README.txt" <<'README'

The job bundle also runs the streaming job: bin/bonestream demo [--backend cuda] (a Kafka broker,
Flink and the inference server in this process), bin/bonestream run --config job.yaml; and
gpu/run-job-check.sh [BUNDLE_DIR] [OUT_DIR], the demo on the GPU with its metrics read while it runs.
README
fi

echo "packing $OUT.tar.xz (xz $XZ_OPTS) ..."
tar -C "$(dirname "$OUT")" -cf - "$(basename "$OUT")" | xz $XZ_OPTS > "$OUT.tar.xz"
BYTES=$(stat -c %s "$OUT.tar.xz")
MIB=$(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1048576 }')
if [ "$JOB" = 1 ]; then
  rm -f "$OUT".tar.xz.[0-9]*
  split -b "${PART_MIB:-54}M" -d -a 1 "$OUT.tar.xz" "$OUT.tar.xz."
  rm "$OUT.tar.xz"
  echo "job bundle: $MIB MiB in $(ls "$OUT".tar.xz.[0-9]* | wc -l) pieces: $(ls "$OUT".tar.xz.[0-9]* | xargs -n1 basename | tr '\n' ' ')" \
    "(cat $(basename "$OUT").tar.xz.* | tar -xJf -); unpacked $(du -sm "$OUT" | cut -f1) MB"
  exit 0
fi
echo "train bundle: $OUT.tar.xz, $MIB MiB ($BYTES bytes); unpacked $(du -sm "$OUT" | cut -f1) MB" \
  "(jre $(du -sm "$OUT/jre" | cut -f1) MB, jars $(du -sm "$OUT/lib" | cut -f1) MB)"
if [ "$BYTES" -gt $((MAX_MIB * 1048576)) ]; then
  echo "error: the train bundle is $MIB MiB, over the limit of $MAX_MIB MiB" >&2
  exit 1
fi
