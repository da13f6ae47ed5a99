#!/usr/bin/env bash
# The GPU check of bonestream in one go: builds the gpu bundle if it is not there, finds the CUDA 13
# libraries, and runs the bat kernel benchmark (kernels), selftest (fp32, bf16), bench (25M,
# TinyLlama-1.1B and Llama-3-8B shapes, bone and bat; the 8B shape again for each kernel VARIANT, each
# as bone and bat in one process; lora on LORA_CONFIGS) and, when PyTorch + PEFT are installed, the
# peer benchmark on the same GPU.
#
#   gpu/run-gpu-check.sh [BUNDLE_DIR] [OUT_DIR]
#
# Logs go to OUT_DIR (default target/gpu-check); the summary is printed last. Each step has a
# time limit (SELFTEST_TIMEOUT, BENCH_TIMEOUT, PEER_TIMEOUT seconds); PEER=0 skips the peer,
# KERNELS=0 the kernel benchmark. selftest runs as the trainer does, bat's side stream beside the
# main one; SELFTEST_SYNC=1 synchronizes after every operation instead, so that an asynchronous
# error names its kernel.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUNDLE=${1:-$ROOT/target/bonestream-gpu}
OUTDIR=${2:-$ROOT/target/gpu-check}
PEER_DIR=${PEER_DIR:-$ROOT/gpu/peer}
CONFIGS=${CONFIGS:-25M,tinyllama-1.1B,llama3-8B}
METHODS=${METHODS:-bone,bat}
PEER_CASES=${PEER_CASES:-25M:bone 25M:bat tinyllama-1.1B:bone tinyllama-1.1B:bat llama3-8B:bone llama3-8B:bat}
mkdir -p "$OUTDIR"
SUMMARY="$OUTDIR/summary.txt"
: > "$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }

# GPU_CMD: another way to start the GPU command line (selftest, bench, kernels), e.g. the train
# bundle's runtime and jars with the main class io.bonestream.engine.backend.cuda.GpuMain
if [ -z "${GPU_CMD:-}" ] && [ ! -x "$BUNDLE/bin/bonestream" ]; then
  "$ROOT/gpu/build-bundle.sh" "$BUNDLE" || exit 1
fi
GPU=${GPU_CMD:-$BUNDLE/bin/bonestream}

# The CUDA 13 libraries the bindings link against (LD_LIBRARY_PATH).
. "$ROOT/gpu/cuda-libs.sh"
export BONESTREAM_JAVA_OPTS=${BONESTREAM_JAVA_OPTS:--Xmx8g}
export BONESTREAM_DEBUG=1
BACKEND=${BACKEND:-cuda}

say "date: $(date -u +%Y-%m-%dT%H:%MZ)"
nvidia-smi > "$OUTDIR/nvidia-smi.txt" 2>&1
say "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"

if [ "${KERNELS:-1}" != "0" ]; then
  say "== kernels --configs ${KERNEL_CONFIGS:-llama3-8B,tinyllama-1.1B} (bat's memory-bound kernels)"
  timeout "${KERNELS_TIMEOUT:-120}" $GPU kernels --configs "${KERNEL_CONFIGS:-llama3-8B,tinyllama-1.1B}" \
    > "$OUTDIR/kernels.txt" 2>&1
  say "exit $?"
  cat "$OUTDIR/kernels.txt" >> "$SUMMARY"
fi

for p in fp32 bf16; do
  say "== selftest --backend $BACKEND --precision $p (BONESTREAM_CUDA_SYNC=${SELFTEST_SYNC:-0})"
  BONESTREAM_CUDA_SYNC=${SELFTEST_SYNC:-0} timeout "${SELFTEST_TIMEOUT:-150}" $GPU selftest --backend "$BACKEND" \
    --precision "$p" > "$OUTDIR/selftest-$p.txt" 2>&1
  say "exit $?"
  grep -E "^device|GEMM|FAIL|PASS|  ok  .*(golden|agree|resumes|lora)|  info" "$OUTDIR/selftest-$p.txt" | tee -a "$SUMMARY"
done

say "== bench --backend $BACKEND --configs $CONFIGS --methods $METHODS ${BENCH_ARGS:-}"
timeout "${BENCH_TIMEOUT:-240}" $GPU bench --backend "$BACKEND" --configs "$CONFIGS" \
  --methods "$METHODS" --profile "${PROFILE:-true}" ${BENCH_ARGS:-} > "$OUTDIR/bench.txt" 2>&1
say "exit $?"
grep -v '^profile' "$OUTDIR/bench.txt" | tee -a "$SUMMARY"

# the 8B bat step with other kernel and stream choices, each in its own process beside bone: one
# stream (bat's merges and dB in line, as before the side stream), and other settings
VARIANTS=${VARIANTS-streams=0 streams=2}
for v in $VARIANTS; do
  merge=pipe; tiles=0; grad=4194304; blocks=1024; streams=1; sms=0
  for kv in $(echo "$v" | tr ',' ' '); do
    case "$kv" in
      merge=*) merge=${kv#merge=} ;; tiles=*) tiles=${kv#tiles=} ;; grad=*) grad=${kv#grad=} ;;
      blocks=*) blocks=${kv#blocks=} ;; streams=*) streams=${kv#streams=} ;; sms=*) sms=${kv#sms=} ;;
    esac
  done
  say "== bench llama3-8B bone,bat with BONESTREAM_CUDA_BAT_MERGE=$merge BONESTREAM_CUDA_BAT_TILES=$tiles BONESTREAM_CUDA_BAT_GRAD=$grad BONESTREAM_CUDA_BAT_GRAD_BLOCKS=$blocks BONESTREAM_CUDA_STREAMS=$streams BONESTREAM_CUDA_GEMM_SMS=$sms"
  BONESTREAM_CUDA_BAT_MERGE=$merge BONESTREAM_CUDA_BAT_TILES=$tiles BONESTREAM_CUDA_BAT_GRAD=$grad \
    BONESTREAM_CUDA_BAT_GRAD_BLOCKS=$blocks BONESTREAM_CUDA_STREAMS=$streams BONESTREAM_CUDA_GEMM_SMS=$sms timeout "${BENCH_TIMEOUT:-240}" $GPU bench \
    --backend "$BACKEND" --configs llama3-8B --methods bone,bat ${BENCH_ARGS:-} > "$OUTDIR/bench-$v.txt" 2>&1
  say "exit $?"
  grep -v '^profile' "$OUTDIR/bench-$v.txt" | tee -a "$SUMMARY"
done

if [ -n "${LORA_CONFIGS-25M,tinyllama-1.1B}" ]; then
  say "== bench --configs ${LORA_CONFIGS-25M,tinyllama-1.1B} --methods lora"
  timeout "${BENCH_TIMEOUT:-240}" $GPU bench --backend "$BACKEND" \
    --configs "${LORA_CONFIGS-25M,tinyllama-1.1B}" --methods lora ${BENCH_ARGS:-} > "$OUTDIR/bench-lora.txt" 2>&1
  say "exit $?"
  grep -v '^profile' "$OUTDIR/bench-lora.txt" | tee -a "$SUMMARY"
fi

if [ "${PEER:-1}" != "0" ] && python3 -c "import torch, peft, transformers" 2>/dev/null; then
  say "== peer: bench_peft_gpu.py $PEER_CASES"
  PYTHONUNBUFFERED=1 timeout "${PEER_TIMEOUT:-300}" python3 "$PEER_DIR/run_peer.py" $PEER_CASES \
    > "$OUTDIR/peer.txt" 2>&1
  say "exit $?"
  grep -E '^\{' "$OUTDIR/peer.txt" | tee -a "$SUMMARY"
else
  say "== peer skipped (PEER=0, or no torch/peft/transformers)"
fi
