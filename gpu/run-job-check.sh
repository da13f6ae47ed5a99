#!/usr/bin/env bash
# The streaming job on a GPU, from the job bundle (JOB=1 gpu/build-train-bundle.sh): `bonestream demo
# --backend cuda` (a Kafka broker, the Flink runtime with two trainer subtasks sharing the GPU, the
# inference server, all in one process) for DURATION (default 90s). While it runs, after PROBE_AT
# seconds (default 60), it reads the Prometheus metrics (the GPU memory gauges among them), Flink's
# job list and nvidia-smi's list of processes on the GPU. The demo keeps its state in DATA_DIR
# (default a temporary folder, deleted at the end) and stops with a savepoint.
#
#   gpu/run-job-check.sh [BUNDLE_DIR] [OUT_DIR]
#
# Logs go to OUT_DIR (default BUNDLE_DIR/job-check): the demo's console in demo.txt, its whole log
# (Flink, Kafka, bonestream; INFO and up) in demo.log; the summary is printed last.
set -uo pipefail
BUNDLE=$(cd "${1:-$(dirname "$0")/..}" && pwd)
OUTDIR=${2:-$BUNDLE/job-check}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
SUMMARY="$OUTDIR/summary.txt"
: > "$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
# GET a URL into a file (curl, or Python where there is no curl)
get() {
  if command -v curl >/dev/null; then
    curl -s -m 10 "$1" > "$2"
  else
    python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$1" > "$2"
  fi
}

. "$BUNDLE/gpu/cuda-libs.sh"
export BONESTREAM_JAVA_OPTS=${BONESTREAM_JAVA_OPTS:--Xmx8g}
DURATION=${DURATION:-90s}
PROBE_AT=${PROBE_AT:-60}
say "date: $(date -u +%Y-%m-%dT%H:%MZ)"
say "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"
say "== bonestream demo --backend cuda --precision ${PRECISION:-bf16} --duration $DURATION"
DATA=${DATA_DIR:-$(mktemp -d)}
[ -n "${DATA_DIR:-}" ] || trap 'rm -rf "$DATA"' EXIT
(cd "$BUNDLE" && exec bin/bonestream demo --backend cuda --precision "${PRECISION:-bf16}" --duration "$DURATION" \
  --data-dir "$DATA" --log-file "$OUTDIR/demo.log") > "$OUTDIR/demo.txt" 2>&1 &
pid=$!
waited=0
while [ "$waited" -lt "$PROBE_AT" ] && kill -0 "$pid" 2>/dev/null; do
  sleep 1
  waited=$((waited + 1))
done
if kill -0 "$pid" 2>/dev/null; then
  get http://localhost:9249/metrics "$OUTDIR/metrics.txt"
  get http://localhost:8081/jobs/overview "$OUTDIR/flink-jobs.json"
  nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv > "$OUTDIR/gpu-processes.txt" 2>&1
  say "-- after ${PROBE_AT} s: GPU processes (nvidia-smi)"
  tee -a "$SUMMARY" < "$OUTDIR/gpu-processes.txt"
  say "-- GPU memory metrics"
  grep -E '^flink_.*gpu' "$OUTDIR/metrics.txt" | tee -a "$SUMMARY"
  say "-- Flink jobs: $(tr -d '\n' < "$OUTDIR/flink-jobs.json" | head -c 400)"
fi
wait "$pid"
say "exit $?"
grep -vE '^\s*$' "$OUTDIR/demo.txt" | grep -vE '^(SLF4J|WARNING)' | tail -40 | tee -a "$SUMMARY"
