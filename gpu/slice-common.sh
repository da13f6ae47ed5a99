# Sourced by gpu/slice-*.sh (bash), on the GPU machine, from the repository's root: the results
# folder, the summary, the check bundle (unpacked from target/bonestream-check.tar.xz into
# target/gpu-run once) and the CUDA 13 libraries. The caller sets SLICE (its name) before sourcing.
#
# Results: OUTDIR (the first argument, else $OUT, else target/gpu-slices/$SLICE) holds
# summary.txt and, at the end (finish), logs.tar.gz of every log: few files, so that they come
# back whole from a machine that returns at most a handful of files.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUTDIR=${1:-${OUT:-$ROOT/target/gpu-slices/$SLICE}}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
LOGS=$(mktemp -d)
SUMMARY="$OUTDIR/summary.txt"
: > "$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
START=$(date +%s)
elapsed() { echo "$(( $(date +%s) - START )) s"; }

# Unpacks a .tar.xz (or its pieces .tar.xz.0, .1, ...) into a folder, with xz or, without it, Python.
unpack() {
  local archive=$1 into=$2
  mkdir -p "$into"
  if [ -f "$archive" ]; then
    if command -v xz >/dev/null; then tar -C "$into" -xJf "$archive"
    else python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$archive" "$into"; fi
  else
    if command -v xz >/dev/null; then cat "$archive".[0-9]* | tar -C "$into" -xJf -
    else cat "$archive".[0-9]* | python3 -c 'import sys, tarfile; tarfile.open(fileobj=sys.stdin.buffer, mode="r|xz").extractall(sys.argv[1])' "$into"; fi
  fi
}

CARRY=${CARRY_DIR:-$ROOT/target}
RUNDIR=${RUN_DIR:-$ROOT/target/gpu-run}
BUNDLE=${BUNDLE:-$RUNDIR/bonestream-check}
if [ ! -x "$BUNDLE/bin/bonestream" ]; then
  if [ ! -f "$CARRY/bonestream-check.tar.xz" ]; then
    say "error: no check bundle: $CARRY/bonestream-check.tar.xz (build it with gpu/build-test-bundle.sh)"
    exit 1
  fi
  unpack "$CARRY/bonestream-check.tar.xz" "$RUNDIR"
fi
GPU=$BUNDLE/bin/bonestream

. "$ROOT/gpu/cuda-libs.sh"
export BONESTREAM_JAVA_OPTS=${BONESTREAM_JAVA_OPTS:--Xmx8g}
export BONESTREAM_DEBUG=1
say "== $SLICE, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
say "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"
nvidia-smi > "$LOGS/nvidia-smi.txt" 2>&1

# The whole slice stops within SLICE_LIMIT seconds (default 540: one command of a 10-minute slot,
# with time left to pack the logs): each step gets at most what is left.
DEADLINE=$(( START + ${SLICE_LIMIT:-540} ))
export PYTHONUNBUFFERED=1

# Runs a command with a time limit (cut to what is left of the slice), its output in
# LOGS/NAME.txt; says its exit code (124: timed out).
step() {
  local name=$1 limit=$2
  shift 2
  local t0=$(date +%s)
  local left=$(( DEADLINE - t0 - 15 ))
  if [ "$left" -lt 10 ]; then
    say "-- $name: not run, the slice's time is up: $*"
    return 125
  fi
  [ "$limit" -le "$left" ] || limit=$left
  timeout "$limit" "$@" > "$LOGS/$name.txt" 2>&1
  local rc=$?
  say "-- $name: exit $rc$([ $rc = 124 ] && echo ' (timed out)') in $(( $(date +%s) - t0 )) s: $*"
  return $rc
}

# Packs every log into OUTDIR/logs.tar.gz and prints the summary's path.
finish() {
  say "== $SLICE done in $(elapsed)"
  tar -C "$LOGS" -czf "$OUTDIR/logs.tar.gz" .
  rm -rf "$LOGS"
  echo "summary: $SUMMARY, logs: $OUTDIR/logs.tar.gz"
}
