package io.bonestream.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The launch geometry {@code CudaDevice} computes agrees with what kernels.cu's kernels assume:
 * threads per block (warps), query rows or keys per block. Both sides write these numbers down; a
 * change to one alone would leave rows unprocessed or threads idle on a GPU, which no CPU test
 * would see. Read from kernels.cu's text, no GPU.
 */
@Timeout(30)
class KernelGeometryTest {
  private static final String SOURCE = KernelDeclarations.withoutComments(KernelDeclarations.kernelsSource());

  @Test
  void attentionBlocksAreWhatTheKernelsAssume() {
    int warps = define("ATT_WARPS");
    assertEquals(warps * define("ATT_ROWS"), CudaDevice.ATT_QUERY_ROWS, "query rows per block of attn_fwd/attn_bwd_dq");
    assertEquals(32 * warps, CudaDevice.ATT_THREADS, "threads per block of the CUDA-core attention kernels");
    // ATT_KPW(HD): keys per warp of attn_bwd_dkv, a chain of (HD) >= w ? k : ... ending in a default
    String kpw = macroBody("ATT_KPW");
    for (int width : new int[] {32, 64, 128, 256}) {
      assertEquals(warps * keysPerWarp(kpw, width), CudaDevice.attentionKeysPerBlock(width), "keys per block at " + width);
    }
    int tcWarps = define("TC_WARPS");
    assertEquals(tcWarps * 16, define("TC_ROWS"));
    assertEquals(define("TC_ROWS"), CudaDevice.TC_ROWS, "rows (or keys) per block of attn_tc_*");
    assertEquals(32 * tcWarps, CudaDevice.ATT_THREADS, "threads per block of attn_tc_* (launched with ATT_THREADS)");
  }

  @Test
  void batMergeBlocksAreWhatTheKernelsAssume() {
    Matcher mma = Pattern.compile("bat_merge_mma_(\\d+)\\([^{]*\\{\\s*batMergeMma<(\\d+), (\\d+)>").matcher(SOURCE);
    int found = 0;
    while (mma.find()) {
      int r = Integer.parseInt(mma.group(1));
      assertEquals(r, Integer.parseInt(mma.group(2)));
      assertEquals(Integer.parseInt(mma.group(3)), CudaDevice.mergeMmaWarps(r), "warps of bat_merge_mma_" + r);
      found++;
    }
    assertEquals(3, found, "bat_merge_mma_32, _64, _128");
    // bat_merge_pipe_R is launched with 128 threads: 4 warps
    Matcher pipe = Pattern.compile("bat_merge_pipe_(\\d+)\\([^{]*\\{\\s*batMergePipe<(\\d+), (\\d+), \\d+>").matcher(SOURCE);
    found = 0;
    while (pipe.find()) {
      assertEquals(4, Integer.parseInt(pipe.group(3)), "warps of bat_merge_pipe_" + pipe.group(1));
      found++;
    }
    assertEquals(2, found, "bat_merge_pipe_32, _64");
  }

  private static int define(String name) {
    Matcher m = Pattern.compile("(?m)^#define " + name + " (\\d+)\\s*$").matcher(SOURCE);
    assertTrue(m.find(), name + " is not defined as a number in kernels.cu");
    return Integer.parseInt(m.group(1));
  }

  private static String macroBody(String name) {
    Matcher m = Pattern.compile("(?m)^#define " + name + "\\(HD\\) (.*)$").matcher(SOURCE);
    assertTrue(m.find(), name + "(HD) is not in kernels.cu");
    return m.group(1);
  }

  private static int keysPerWarp(String body, int width) {
    Matcher step = Pattern.compile("\\(HD\\) >= (\\d+) \\? (\\d+) :").matcher(body);
    while (step.find()) {
      if (width >= Integer.parseInt(step.group(1))) {
        return Integer.parseInt(step.group(2));
      }
    }
    Matcher last = Pattern.compile(": (\\d+)\\)\\s*$").matcher(body);
    assertTrue(last.find(), "no default in " + body);
    return Integer.parseInt(last.group(1));
  }
}
