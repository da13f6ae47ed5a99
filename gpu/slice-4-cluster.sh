#!/usr/bin/env bash
# GPU slice 4 of 4, the streaming job on a Flink cluster of separate processes with the GPU
# (docs/gpu.md, "The GPU slices"): about 4 minutes. A Kafka broker (bonestream broker), a
# JobManager and two TaskManagers, each its own JVM on the cluster's lib folder
# (job/flink-lib/bin/flink-process), the job submitted with `backend: cuda` (bf16) through the
# REST API (bonestream submit), its input arriving in two parts: once KILL_AT versions of the first
# part are committed the second part comes, and KILL_DELAY seconds (default 2) into it one TaskManager is
# killed with kill -9 and a new one started. When the job has published everything, a read_committed reader (bonestream
# tail-snapshots) must see every version of every adapter exactly once, and no record in two
# versions (gpu/check-versions.py). First (BASELINE=1, the default; 0 skips it) the same input
# runs without a kill, and the check says whether the replayed versions are byte for byte the same
# (and by how much their losses differ where not).
#
#   gpu/slice-4-cluster.sh [OUT_DIR]
#
# Needs the job bundle (JOB=1 gpu/build-train-bundle.sh), uploaded in its pieces
# target/bonestream-job.tar.xz.0, .1, ... (one upload each: the pieces already there stay between
# uploads), and the NVIDIA driver and CUDA 13 libraries. BACKEND=cpu runs the same on the CPU (what
# a machine without a GPU can check of this script). Writes OUT_DIR/summary.txt and
# OUT_DIR/logs.tar.gz (the processes' logs, the manifests read back).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SLICE=slice-4-cluster
OUTDIR=${1:-${OUT:-$ROOT/target/gpu-slices/$SLICE}}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
LOGS=$(mktemp -d)
SUMMARY="$OUTDIR/summary.txt"
: > "$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
START=$(date +%s)
DEADLINE=$(( START + ${SLICE_LIMIT:-540} ))
BACKEND=${BACKEND:-cuda}
KILL_AT=${KILL_AT:-6} # at most the first part's versions (8 per adapter)
ADAPTERS=${ADAPTERS:-colors-a colors-b big-c}
COPIES=${COPIES:-4} # each adapter gets examples/colors.jsonl this many times (64 records each)

CARRY=${CARRY_DIR:-$ROOT/target}
RUNDIR=${RUN_DIR:-$ROOT/target/gpu-run}
JOBB=${JOB_BUNDLE:-$RUNDIR/bonestream-job}
if [ ! -x "$JOBB/bin/bonestream" ]; then
  ls "$CARRY"/bonestream-job.tar.xz.[0-9]* >/dev/null 2>&1 || { say "error: no job bundle pieces in $CARRY"; exit 1; }
  mkdir -p "$RUNDIR"
  if command -v xz >/dev/null; then cat "$CARRY"/bonestream-job.tar.xz.[0-9]* | tar -C "$RUNDIR" -xJf -
  else cat "$CARRY"/bonestream-job.tar.xz.[0-9]* | python3 -c 'import sys, tarfile
tarfile.open(fileobj=sys.stdin.buffer, mode="r|xz").extractall(sys.argv[1])' "$RUNDIR"; fi || { say "error: the job bundle does not unpack"; exit 1; }
fi
[ -d "$JOBB/cluster-lib" ] && [ -f "$JOBB/app/job.jar" ] || { say "error: $JOBB has no cluster-lib/ or app/job.jar (an older job bundle?)"; exit 1; }
CLI=$JOBB/bin/bonestream
[ "$BACKEND" != cuda ] || . "$ROOT/gpu/cuda-libs.sh"
export BONESTREAM_JAVA_OPTS=${BONESTREAM_JAVA_OPTS:--Xmx2g}
export BONESTREAM_JAVACPP_CACHE=${BONESTREAM_JAVACPP_CACHE:-$RUNDIR/javacpp-cache}
say "== $SLICE, backend $BACKEND, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
[ "$BACKEND" = cuda ] && say "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"

W=$RUNDIR/cluster
rm -rf "$W" && mkdir -p "$W/conf"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  PIDS=()
}
trap cleanup EXIT
# packs the logs into OUTDIR/logs.tar.gz (once)
pack() {
  [ -d "$LOGS" ] || return 0
  tar -C "$LOGS" -czf "$OUTDIR/logs.tar.gz" .
  rm -rf "$LOGS"
  echo "summary: $SUMMARY, logs: $OUTDIR/logs.tar.gz"
}
die() {
  say "error: $*"
  cleanup
  pack
  exit 1
}
get() { python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$1" 2>/dev/null; }
# waits until a command succeeds, at most $1 seconds (and never past the slice's deadline)
await() {
  local limit=$1 t=0
  shift
  until "$@"; do
    t=$((t + 1))
    if [ "$t" -ge "$limit" ] || [ "$(date +%s)" -ge "$DEADLINE" ]; then return 1; fi
    sleep 1
  done
}

# the cluster's configuration: the project's, with its folders here and the bundle's JavaCPP cache
cp "$ROOT"/job/flink-lib/conf/* "$W/conf/"
sed -i -e "s|file:///tmp/bonestream-cluster/|file://$W/|g" -e "s|/tmp/bonestream-cluster/jars|$W/jars|" \
  -e "s|^env.java.opts.all: \(.*\)|env.java.opts.all: \1 -Dorg.bytedeco.javacpp.cachedir=$BONESTREAM_JAVACPP_CACHE|" \
  "$W/conf/config.yaml"
sed -i "s/^taskmanager.memory.process.size: .*/taskmanager.memory.process.size: ${TM_MEMORY:-3g}/" "$W/conf/config.yaml"
flink() {
  local role=$1 log=$2
  shift 2
  FLINK_CONF_DIR=$W/conf FLINK_LIB_DIR=$JOBB/cluster-lib JAVA_HOME=$JOBB/jre FLINK_LOG_FILE=$LOGS/$log.log \
    "$ROOT/job/flink-lib/bin/flink-process" "$role" "$@" > "$LOGS/$log.out" 2>&1 &
  LASTPID=$! # flink-process execs the JVM: this is its pid
  PIDS+=("$LASTPID")
  disown "$LASTPID" # no job-control line when it is killed
}

# broker, input, cluster
"$CLI" broker --port 9092 --data-dir "$W/kafka" --topic in-base:2 --topic in-kills:2 > "$LOGS/broker.log" 2>&1 &
PIDS+=($!)
disown $!
await 90 grep -q "broker ready at" "$LOGS/broker.log" || die "the broker did not start"
# the input of a run, in two parts: the first copy of every adapter's records, then the others
# (each run has its topic, so that both see the same input in the same order)
produce() { # topic first|rest
  local a c copies
  [ "$2" = first ] && copies=1 || copies=$(seq 2 "$COPIES")
  for a in $ADAPTERS; do
    for c in $copies; do
      "$CLI" produce --bootstrap localhost:9092 --topic "$1" --adapter "$a" --file "$ROOT/examples/colors.jsonl" \
        >> "$LOGS/produce.log" 2>&1 || die "produce failed (produce.log)"
    done
  done
}
RECORDS=$(( $(wc -l < "$ROOT/examples/colors.jsonl") * COPIES ))
EXPECT=$(( RECORDS / 8 )) # a step per 4 records, a version every 2 steps
say "input: $(echo $ADAPTERS | wc -w) adapters, $RECORDS records each: $EXPECT versions each expected"
flink jobmanager jobmanager && JM=$LASTPID
flink taskmanager taskmanager-1 && TM1=$LASTPID
flink taskmanager taskmanager-2 && TM2=$LASTPID
tms() { get http://localhost:8081/taskmanagers | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["taskmanagers"]))' 2>/dev/null; }
two_tms() { [ "$(tms)" = 2 ]; }
await 180 two_tms || die "the cluster did not come up with 2 TaskManagers (jobmanager.log, taskmanager-*.log)"
say "cluster: JobManager $JM, TaskManagers $TM1 $TM2 (separate JVMs), up after $(( $(date +%s) - START )) s"

job_yaml() { # run-name
  cat > "$W/$1.yaml" <<YAML
kafka:
  bootstrap-servers: localhost:9092
  group-id: $1
  transactional-id-prefix: $1
  transaction-timeout: 2m
  properties:
    fetch.min.bytes: "10485760"
    fetch.max.wait.ms: "50"
    max.partition.fetch.bytes: "1"
topics:
  instructions: in-$1
  adapters: $1.adapters
  dead-letters: $1.dlq
model: $JOBB/models/stories260K
backend: $BACKEND
precision: bf16
max-seq-len: 64
checkpoints:
  dir: file://$W/$1/checkpoints
  interval: 500ms
blob-store: file://$W/$1/blobs
adapter-defaults:
  method: bat
  r: 4
  lr: 1.0e-2
  micro-batch-size: 4
adapters:
  - match: "big-*"
    method: bone
    r: 16
batching:
  max-examples: 4
snapshots:
  every-steps: 2
  inline-limit: 65536
YAML
}
versions() { # run-name: committed manifests so far (read_committed); at most 12 s (tail-snapshots
  # reads on while manifests keep coming)
  timeout 12 "$CLI" tail-snapshots --bootstrap localhost:9092 --topic "$1.adapters" --from-beginning --timeout 2s \
    2>/dev/null | grep -c '^{'
}
at_least() { [ "$(versions "$1")" -ge "$2" ]; }
run_job() { # run-name kill(0|1)
  local name=$1 kill=$2 total=$(( EXPECT * $(echo $ADAPTERS | wc -w) ))
  job_yaml "$name"
  "$CLI" submit --jobmanager http://localhost:8081 --config "$W/$name.yaml" --jar "$JOBB/app/job.jar" \
    --parallelism 2 > "$LOGS/submit-$name.txt" 2>&1 || { say "error: submit failed"; cat "$LOGS/submit-$name.txt"; return 1; }
  JOB=$(grep -oE '[0-9a-f]{32}' "$LOGS/submit-$name.txt" | tail -1)
  say "-- $name: job $JOB submitted ($(( $(date +%s) - START )) s)"
  local n=0 last=0 still=0
  produce "in-$name" first
  await 240 at_least "$name" "$KILL_AT"
  n=$(versions "$name")
  say "   $n versions of the first part's $(( $(echo $ADAPTERS | wc -w) * 8 )) committed ($(( $(date +%s) - START )) s)"
  # the second part arrives while the job trains; with a kill, KILL_DELAY seconds into it
  produce "in-$name" rest &
  local producer=$!
  if [ "$kill" = 1 ]; then
    sleep "${KILL_DELAY:-2}"
    [ "$BACKEND" = cuda ] && nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv > "$LOGS/gpu-processes.txt" 2>&1 \
      && say "   on the GPU: $(tail -n +2 "$LOGS/gpu-processes.txt" | tr '\n' ';')"
    n=$(versions "$name")
    kill -9 "$TM1"
    say "   kill -9 TaskManager $TM1 at $(( $(date +%s) - START )) s, the second part arriving, $n of $total versions committed"
    if [ "$n" -ge "$total" ]; then
      say "   the kill came after the last version: nothing to recover"
      killed_late=1
    fi
    sleep 5
    flink taskmanager taskmanager-3 && TM3=$LASTPID
    say "   a new TaskManager $TM3 started"
  fi
  wait "$producer" || die "produce failed (produce.log)"
  while [ "$(date +%s)" -lt "$DEADLINE" ]; do
    n=$(versions "$name")
    [ "$n" -ge "$total" ] && break
    if [ "$n" = "$last" ]; then still=$((still + 5)); else still=0; last=$n; fi
    [ "$still" -ge 60 ] && break # nothing new for a minute
    sleep 5
  done
  "$CLI" tail-snapshots --bootstrap localhost:9092 --topic "$name.adapters" --from-beginning --timeout 5s \
    > "$LOGS/manifests-$name.jsonl" 2>"$LOGS/tail-$name.err"
  say "   $(grep -c '^{' "$LOGS/manifests-$name.jsonl") of $total versions committed ($(( $(date +%s) - START )) s)"
  get "http://localhost:8081/jobs/$JOB/checkpoints" > "$LOGS/checkpoints-$name.json"
  python3 -c 'import json, sys; r = json.load(open(sys.argv[1])).get("latest", {}).get("restored"); print("   restored from a checkpoint:", "yes, " + str(r.get("external_path")) if r else "no")' \
    "$LOGS/checkpoints-$name.json" 2>/dev/null | tee -a "$SUMMARY"
  get "http://localhost:8081/jobs/$JOB/exceptions" > "$LOGS/exceptions-$name.json"
  python3 - "http://localhost:8081/jobs/$JOB?mode=cancel" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="PATCH"), timeout=10)
PY
}

failed=0
killed_late=0
if [ "${BASELINE:-1}" = 1 ]; then
  run_job base 0 || failed=1
fi
run_job kills 1 || failed=1
say "== read_committed check"
check_args=("$LOGS/manifests-kills.jsonl" --expect-versions "$EXPECT")
[ -f "$LOGS/manifests-base.jsonl" ] && check_args+=(--baseline "$LOGS/manifests-base.jsonl")
python3 "$ROOT/gpu/check-versions.py" "${check_args[@]}" > "$LOGS/check.txt" 2>&1 || failed=1
tee -a "$SUMMARY" < "$LOGS/check.txt"
[ "$killed_late" = 0 ] || failed=1
grep -h -m3 -iE "cuda|gpu" "$LOGS"/taskmanager-*.log 2>/dev/null | cut -c1-300 | sed 's/^/   TaskManager log: /' >> "$SUMMARY"
say "slice 4: $([ $failed = 0 ] && echo PASS || echo FAIL) in $(( $(date +%s) - START )) s"
cleanup
pack
exit $failed
