#!/usr/bin/env bash
# GPU slice 2 of 4, speed at the TinyLlama-1.1B shape (docs/gpu.md, "The GPU slices"): about 6
# minutes on an H100/H200 (at most 9: each step has a time limit). In one run on one GPU,
# bonestream first, then the peer:
#   - bonestream bench, bf16, r 64, bone and bat, 8 x 1024 and 8 x 4096;
#   - the PEFT peer (gpu/peer/bench_peft_gpu.py) at the same shapes, every mode (autocast: Trainer's
#     bf16; default: PEFT as it comes; bf16-adapters), bone and bat;
#   - gpu/peer/compare.py: each bonestream figure against the fastest peer mode, with the targets;
#   - attention alone (ATTENTION=0 skips it): bonestream's tensor-core kernels against its CUDA-core
#     ones (`kernels --attention`) and PyTorch's SDPA backends, FlashAttention and cuDNN's fused
#     attention among them (gpu/peer/bench_sdpa.py), at 8 x 1024 and 8 x 4096 and Llama-3-8B's
#     1 x 8192: whether binding cuDNN's fused attention would beat the kernels of our own.
# Optional, after it, in a slice of its own (2b): the peer under torch.compile, bonestream again in
# the same run: MODES=autocast-compiled ATTENTION=0 gpu/slice-2-tinyllama.sh OUT_DIR
#
#   gpu/slice-2-tinyllama.sh [OUT_DIR]
#
# Needs: target/bonestream-check.tar.xz (gpu/build-test-bundle.sh); for the peer, Python
# with torch, transformers and peft (MissConfig: PEFT >= 0.17). Writes OUT_DIR/summary.txt (the
# comparison table last), OUT_DIR/compare.md and OUT_DIR/logs.tar.gz. SEQS, METHODS, STEPS (bench
# timed steps, default 10), PEER_STEPS (default 6), PEER=0 (no peer), MODES (the peer's modes,
# default autocast,default,bf16-adapters; each step's limit grows with autocast-compiled, whose
# compilation takes minutes) change the run.
set -uo pipefail
SLICE=slice-2-tinyllama
. "$(dirname "$0")/slice-common.sh"
CONFIG=${CONFIG:-tinyllama-1.1B}
BATCH=${BATCH:-8}
SEQS=${SEQS:-1024 4096}
METHODS=${METHODS:-bone,bat}
MODES=${MODES:-autocast,default,bf16-adapters}
PEER_LIMIT=200
case ",$MODES," in *,autocast-compiled,*) PEER_LIMIT=300 ;; esac

for seq in $SEQS; do
  step "bench-$BATCH-$seq" 120 "$GPU" bench --backend cuda --precision bf16 --configs "$CONFIG" --methods "$METHODS" \
    --r 64 --batch "$BATCH" --seq "$seq" --steps "${STEPS:-10}" --warmup 2
  grep -E '^(device|bf16 GEMM|\{)' "$LOGS/bench-$BATCH-$seq.txt" | tee -a "$SUMMARY"
done
if [ "${PEER:-1}" != 0 ] && python3 -c "import torch, transformers, peft" 2>/dev/null; then
  for seq in $SEQS; do
    step "peer-$BATCH-$seq" "$PEER_LIMIT" python3 "$ROOT/gpu/peer/bench_peft_gpu.py" \
      --modes "$MODES" --methods "$METHODS" --batch "$BATCH" --seq "$seq" \
      --steps "${PEER_STEPS:-6}" "$CONFIG"
    grep -E '^\{' "$LOGS/peer-$BATCH-$seq.txt" | tee -a "$SUMMARY"
  done
else
  say "peer skipped (PEER=0, or no torch/transformers/peft here)"
fi
python3 "$ROOT/gpu/peer/compare.py" "$LOGS"/bench-*.txt "$LOGS"/peer-*.txt > "$OUTDIR/compare.md" 2>&1
say "== bonestream against the fastest PEFT mode (same run)"
tee -a "$SUMMARY" < "$OUTDIR/compare.md"
if [ "${ATTENTION:-1}" != 0 ]; then
  say "== attention alone: tensor cores, CUDA cores, PyTorch SDPA backends (same run)"
  for shape in "$CONFIG $BATCH 1024" "$CONFIG $BATCH 4096" "llama3-8B 1 8192"; do
    set -- $shape
    step "attention-$1-$2-$3" 90 "$GPU" kernels --attention --configs "$1" --batch "$2" --seq "$3" --reps 10
    grep -E '^kernels' "$LOGS/attention-$1-$2-$3.txt" | tee -a "$SUMMARY"
    if python3 -c "import torch" 2>/dev/null; then
      step "sdpa-$1-$2-$3" 90 python3 "$ROOT/gpu/peer/bench_sdpa.py" --batch "$2" --seq "$3" --reps 10 "$1"
      grep -E '^sdpa' "$LOGS/sdpa-$1-$2-$3.txt" | tee -a "$SUMMARY"
    fi
  done
fi
finish
