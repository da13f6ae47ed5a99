#!/usr/bin/env bash
# GPU slice 3 of 4, the Llama-3-8B shape (docs/gpu.md, "The GPU slices"): about 8 minutes; the
# peer's bat in its default mode needs about 111 GiB (an H200; on an H100 it reports running out
# of memory). In one run on one GPU:
#   - bonestream bench, bf16, r 64, bone and bat at 4 x 1024 and 1 x 8192, and bone at 1 x 4096 with
#     activation recomputation (--recompute; a build without it says so and that line is not
#     measured), each with the JVM's host
#     memory sampled from /proc (peak VmRSS, RssAnon, RssFile);
#   - the PEFT peer at 4 x 1024 and 1 x 8192, every mode, bone and bat; gpu/peer/compare.py;
#   - a random 8B checkpoint (bf16 safetensors, 16 GB) made here by gpu/make-random-checkpoint.py,
#     not uploaded, and bench from that folder (--model DIR) where the build has it, for the host
#     memory of loading the real files.
#
#   gpu/slice-3-llama8b.sh [OUT_DIR]
#
# Needs: target/bonestream-check.tar.xz (gpu/build-test-bundle.sh); Python with torch,
# transformers, peft and safetensors. Writes OUT_DIR/summary.txt, OUT_DIR/compare.md,
# OUT_DIR/logs.tar.gz. PEER=0 skips the peer, CHECKPOINT=0 the checkpoint; STEPS, PEER_STEPS.
set -uo pipefail
SLICE=slice-3-llama8b
. "$(dirname "$0")/slice-common.sh"
CONFIG=llama3-8B

# Runs bench like step, sampling the JVM's host memory every second (peak kB of VmRSS, RssAnon, RssFile).
bench_mem() {
  local name=$1
  shift
  step "$name" "$@" &
  local runner=$!
  local peak_rss=0 peak_anon=0 peak_file=0 pid
  while kill -0 "$runner" 2>/dev/null; do
    for pid in $(pgrep -f "io.bonestream.engine.backend.cuda.GpuMain bench" 2>/dev/null); do
      read -r rss anon file < <(awk '/^VmRSS/ {r=$2} /^RssAnon/ {a=$2} /^RssFile/ {f=$2} END {print r+0, a+0, f+0}' \
        "/proc/$pid/status" 2>/dev/null || echo "0 0 0")
      [ "$rss" -gt "$peak_rss" ] && peak_rss=$rss
      [ "$anon" -gt "$peak_anon" ] && peak_anon=$anon
      [ "$file" -gt "$peak_file" ] && peak_file=$file
    done
    sleep 1
  done
  wait "$runner"
  local rc=$?
  say "   host memory of $name: peak VmRSS $((peak_rss / 1024)) MiB, RssAnon $((peak_anon / 1024)) MiB, RssFile $((peak_file / 1024)) MiB"
  grep -E '^(device|bf16 GEMM|\{)' "$LOGS/$name.txt" | tee -a "$SUMMARY"
  return $rc
}

B="$GPU bench --backend cuda --precision bf16 --configs $CONFIG --r 64 --steps ${STEPS:-6} --warmup 2"
bench_mem bench-4-1024 150 $B --methods bone,bat --batch 4 --seq 1024
bench_mem bench-1-8192 150 $B --methods bone,bat --batch 1 --seq 8192
bench_mem bench-1-4096-recompute 120 $B --methods bone --batch 1 --seq 4096 --recompute
if grep -q "unknown option --recompute" "$LOGS/bench-1-4096-recompute.txt"; then
  say "   this build has no --recompute: the 1 x 4096 recomputation line is not measured"
fi

if [ "${PEER:-1}" != 0 ] && python3 -c "import torch, transformers, peft" 2>/dev/null; then
  for shape in "4 1024" "1 8192"; do
    set -- $shape
    step "peer-$1-$2" 240 python3 "$ROOT/gpu/peer/bench_peft_gpu.py" --modes autocast,default,bf16-adapters \
      --methods bone,bat --batch "$1" --seq "$2" --steps "${PEER_STEPS:-4}" "$CONFIG"
    grep -E '^\{' "$LOGS/peer-$1-$2.txt" | tee -a "$SUMMARY"
  done
else
  say "peer skipped (PEER=0, or no torch/transformers/peft here)"
fi
python3 "$ROOT/gpu/peer/compare.py" "$LOGS"/bench-*.txt "$LOGS"/peer-*.txt > "$OUTDIR/compare.md" 2>&1
say "== bonestream against the fastest PEFT mode (same run)"
tee -a "$SUMMARY" < "$OUTDIR/compare.md"

if [ "${CHECKPOINT:-1}" != 0 ]; then
  CK=$RUNDIR/llama3-8B-random
  if [ ! -f "$CK/config.json" ]; then
    step make-checkpoint 180 python3 "$ROOT/gpu/make-random-checkpoint.py" --shape llama3-8B "$CK"
    tail -1 "$LOGS/make-checkpoint.txt" | tee -a "$SUMMARY"
  fi
  if [ -f "$CK/config.json" ]; then
    bench_mem bench-checkpoint-4-1024 150 "$GPU" bench --backend cuda --precision bf16 --model "$CK" --methods bone \
      --r 64 --batch 4 --seq 1024 --steps 4 --warmup 1
    grep -q "unknown option --model" "$LOGS/bench-checkpoint-4-1024.txt" \
      && say "   this build's bench has no --model: the checkpoint's host memory is not measured"
  fi
fi
finish
