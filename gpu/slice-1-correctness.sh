#!/usr/bin/env bash
# GPU slice 1 of 4, correctness (docs/gpu.md, "The GPU slices"): about 6 minutes on an H100/H200.
#   - kernels --compile-only: every kernel of kernels.cu compiled by NVRTC for sm_80, sm_86, sm_89,
#     sm_90 and the GPU's own, each CUBIN holding them all (no GPU used);
#   - selftest: cuda in fp32 and bf16 (the bf16 one with the 200-step task), java (the reference
#     device) in fp32 and bf16, cpu (the default backend's CPU device) in fp32;
#   - the CUDA tests through JUnit's console launcher (CudaBackendTest and the rest), JUnit XML.
# The CPU-only checks (NVRTC, java, cpu) run beside the GPU ones.
#
#   gpu/slice-1-correctness.sh [OUT_DIR]
#
# Needs: target/bonestream-check.tar.xz (gpu/build-test-bundle.sh), the NVIDIA driver
# and the CUDA 13 libraries (found by gpu/cuda-libs.sh). Writes OUT_DIR/summary.txt, the JUnit
# report OUT_DIR/TEST-junit-jupiter.xml and OUT_DIR/logs.tar.gz. Exit code 0 when all passed.
set -uo pipefail
SLICE=slice-1-correctness
. "$(dirname "$0")/slice-common.sh"
say "GPU presence: $(ls /dev | grep -cE '^nvidia[0-9]+$') GPU device file(s) under /dev"

# CPU only, in the background: NVRTC for every architecture, the Java and CPU devices' selftests
# (no 200-step task there: --task none)
step nvrtc-archs 300 "$GPU" kernels --compile-only --arch sm_80,sm_86,sm_89,sm_90,native &
p_nvrtc=$!
step selftest-java-fp32 420 "$GPU" selftest --backend java --precision fp32 --task none &
p_java32=$!
step selftest-java-bf16 420 "$GPU" selftest --backend java --precision bf16 --task none &
p_java16=$!
step selftest-cpu-fp32 420 "$GPU" selftest --backend cpu --task none &
p_cpu=$!

failed=0
# on the GPU, one after the other
step selftest-cuda-fp32 180 "$GPU" selftest --backend cuda --precision fp32
step selftest-cuda-bf16 240 "$GPU" selftest --backend cuda --precision bf16
rm -rf "$LOGS/junit"
step cuda-tests 420 "$BUNDLE/bin/run-tests" "$LOGS/junit" || failed=$((failed + 1))
cp "$LOGS"/junit/TEST-*.xml "$OUTDIR/" 2>/dev/null

wait "$p_nvrtc" "$p_java32" "$p_java16" "$p_cpu" # their verdicts are read below

say "== results"
for f in nvrtc-archs selftest-cuda-fp32 selftest-cuda-bf16 selftest-java-fp32 selftest-java-bf16 selftest-cpu-fp32; do
  verdict=$(grep -E '^(PASS|FAIL)' "$LOGS/$f.txt" 2>/dev/null | tail -1)
  say "$f: ${verdict:-no verdict: $(grep -m1 '^error' "$LOGS/$f.txt" 2>/dev/null | cut -c1-300)}"
  grep -E '^device|^NVRTC|GEMM rate|  FAIL|bat merge|  ok    sm_|  info' "$LOGS/$f.txt" 2>/dev/null | sed 's/^/    /' >> "$SUMMARY"
  grep -q '^PASS' "$LOGS/$f.txt" 2>/dev/null || failed=$((failed + 1))
done
for x in "$OUTDIR"/TEST-*.xml; do
  [ -f "$x" ] || { say "cuda-tests: no JUnit report"; failed=$((failed + 1)); continue; }
  say "cuda-tests: $(grep -o '<testsuite [^>]*>' "$x" | grep -oE '(tests|skipped|failures|errors)="[0-9]+"' | tr '\n' ' ')($(basename "$x"))"
done
# the console launcher's tree: failed (✘) and skipped (assumption failed) tests with their
# reasons, and the counts
grep -E '✘|Assumption failed|tests (successful|failed|skipped|aborted)' "$LOGS/cuda-tests.txt" 2>/dev/null \
  | cut -c1-400 | head -40 | sed 's/^/    /' >> "$SUMMARY"
say "slice 1: $([ $failed = 0 ] && echo PASS || echo "FAIL ($failed)")"
finish
exit $([ $failed = 0 ] && echo 0 || echo 1)
