#!/usr/bin/env bash
# The training check of the train bundle (gpu/build-train-bundle.sh) on a GPU machine, after
# `tar -xJf bonestream-train.tar.xz`: finds the CUDA 13 libraries, then trains stories260K on the
# colors data, the same run (data, seed, steps) with --backend cuda --precision fp32 and with
# --backend cpu, and prints both final losses; then a few lora steps with --backend cuda
# --precision bf16. About a minute on a 16-core GPU machine.
#
#   gpu/run-train-check.sh [BUNDLE_DIR] [OUT_DIR]
#
# BUNDLE_DIR: the unpacked bundle (default: the bundle this script is in, else
# target/bonestream-train); OUT_DIR: logs, adapters and summary.txt (default: target/train-check).
# STEPS (default 40), LORA_STEPS (default 10) and TRAIN_TIMEOUT (seconds a run may take, default
# 120) change the runs.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -n "${1:-}" ]; then
  BUNDLE=$1
elif [ -x "$HERE/../bin/bonestream" ]; then
  BUNDLE=$HERE/..
else
  BUNDLE=$HERE/../target/bonestream-train
fi
BUNDLE=$(cd "$BUNDLE" 2>/dev/null && pwd) || { echo "error: no bundle folder ${1:-}" >&2; exit 1; }
if [ ! -x "$BUNDLE/bin/bonestream" ]; then
  echo "error: $BUNDLE/bin/bonestream not found (unpack bonestream-train.tar.xz, or build it with" \
    "gpu/build-train-bundle.sh)" >&2
  exit 1
fi
OUTDIR=${2:-$HERE/../target/train-check}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
STEPS=${STEPS:-40}
LORA_STEPS=${LORA_STEPS:-10}
TRAIN_TIMEOUT=${TRAIN_TIMEOUT:-120}
SUMMARY="$OUTDIR/summary.txt"
: > "$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }

. "$HERE/cuda-libs.sh"
export BONESTREAM_JAVA_OPTS=${BONESTREAM_JAVA_OPTS:--Xmx8g}
export BONESTREAM_DEBUG=1
# JavaCPP unpacks the native libraries here (once per bundle), not in a home folder.
export BONESTREAM_JAVACPP_CACHE=${BONESTREAM_JAVACPP_CACHE:-$OUTDIR/javacpp-cache}

say "date: $(date -u +%Y-%m-%dT%H:%MZ)"
say "bundle: $BUNDLE"
nvidia-smi > "$OUTDIR/nvidia-smi.txt" 2>&1
say "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"
say "cpu: $(nproc) cores"

# train NAME ARGS...: one training run, its log in OUT_DIR/NAME.txt, its adapter in OUT_DIR/NAME.
train() {
  local name=$1
  shift
  local args=(--model "$BUNDLE/models/stories260K" --data "$BUNDLE/data/colors.jsonl"
    --eval-data "$BUNDLE/data/colors-heldout.jsonl" --seed 42 --batch-size 8 --out "$OUTDIR/$name" "$@")
  rm -rf "${OUTDIR:?}/$name"
  say "== $name: bonestream train ${*}"
  local start=$SECONDS
  timeout "$TRAIN_TIMEOUT" "$BUNDLE/bin/bonestream" train "${args[@]}" > "$OUTDIR/$name.txt" 2>&1
  local rc=$?
  say "exit $rc ($((SECONDS - start)) s)"
  # all but the step lines, and the first and last step (at most 40 lines: a stack trace is long)
  awk '$1 != "step" { print; next } { split($2, a, "/"); if (a[1] == 1 || a[1] == a[2]) print }' \
    "$OUTDIR/$name.txt" | head -n 40 | tee -a "$SUMMARY"
}

# final_loss NAME: the last step's loss (done: ... loss FIRST -> LAST ...).
final_loss() {
  sed -n -E 's/^done: .* loss [^ ]+ -> ([^,]+),.*/\1/p' "$OUTDIR/$1.txt" 2>/dev/null | tail -n 1
}

same=(--method bat --r 4 --lr 1e-2 --steps "$STEPS")
train cuda-fp32 "${same[@]}" --backend cuda --precision fp32
train cpu "${same[@]}" --backend cpu
train cuda-bf16-lora --method lora --r 4 --lr 1e-2 --steps "$LORA_STEPS" --backend cuda --precision bf16

GPU_LOSS=$(final_loss cuda-fp32)
CPU_LOSS=$(final_loss cpu)
say "== final loss after $STEPS steps (bat r 4, seed 42): cuda fp32 ${GPU_LOSS:-none}, cpu ${CPU_LOSS:-none}"
if [ -n "$GPU_LOSS" ] && [ -n "$CPU_LOSS" ]; then
  say "$(awk -v g="$GPU_LOSS" -v c="$CPU_LOSS" 'BEGIN {
    d = g - c; if (d < 0) d = -d
    printf "difference %.4f (%.2f%% of the cpu loss)", d, (c == 0 ? 0 : 100 * d / c) }')"
fi
LORA_LOSS=$(final_loss cuda-bf16-lora)
say "lora bf16 on cuda, final loss after $LORA_STEPS steps: ${LORA_LOSS:-none}"
say "logs in $OUTDIR"
