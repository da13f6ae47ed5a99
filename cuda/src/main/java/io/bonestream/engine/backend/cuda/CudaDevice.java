package io.bonestream.engine.backend.cuda;

import static org.bytedeco.cuda.global.cublas.CUBLAS_COMPUTE_32F;
import static org.bytedeco.cuda.global.cublas.CUBLAS_DEFAULT_MATH;
import static org.bytedeco.cuda.global.cublas.CUBLAS_GEMM_DEFAULT;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_N;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_T;
import static org.bytedeco.cuda.global.cublas.cublasCreate_v2;
import static org.bytedeco.cuda.global.cublas.cublasDestroy_v2;
import static org.bytedeco.cuda.global.cublas.cublasGemmEx;
import static org.bytedeco.cuda.global.cublas.cublasGemmStridedBatchedEx;
import static org.bytedeco.cuda.global.cublas.cublasGetVersion_v2;
import static org.bytedeco.cuda.global.cublas.cublasSetMathMode;
import static org.bytedeco.cuda.global.cublas.cublasSetSmCountTarget;
import static org.bytedeco.cuda.global.cublas.cublasSetStream_v2;
import static org.bytedeco.cuda.global.cudart.CUDA_R_16BF;
import static org.bytedeco.cuda.global.cudart.CUDA_R_32F;
import static org.bytedeco.cuda.global.cudart.cuCtxSetCurrent;
import static org.bytedeco.cuda.global.cudart.cuDeviceGet;
import static org.bytedeco.cuda.global.cudart.cuDevicePrimaryCtxRetain;
import static org.bytedeco.cuda.global.cudart.cuInit;
import static org.bytedeco.cuda.global.cudart.cuLaunchKernel;
import static org.bytedeco.cuda.global.cudart.cuModuleGetFunction;
import static org.bytedeco.cuda.global.cudart.cuModuleLoadData;
import static org.bytedeco.cuda.global.cudart.cudaDeviceGetStreamPriorityRange;
import static org.bytedeco.cuda.global.cudart.cudaDeviceSynchronize;
import static org.bytedeco.cuda.global.cudart.cudaEventCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaEventDestroy;
import static org.bytedeco.cuda.global.cudart.cudaEventDisableTiming;
import static org.bytedeco.cuda.global.cudart.cudaEventRecord;
import static org.bytedeco.cuda.global.cudart.cudaDriverGetVersion;
import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaGetDeviceCount;
import static org.bytedeco.cuda.global.cudart.cudaGetDeviceProperties;
import static org.bytedeco.cuda.global.cudart.cudaGetErrorString;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMemGetInfo;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemsetAsync;
import static org.bytedeco.cuda.global.cudart.cudaRuntimeGetVersion;
import static org.bytedeco.cuda.global.cudart.cudaSetDevice;
import static org.bytedeco.cuda.global.cudart.cudaStreamCreateWithPriority;
import static org.bytedeco.cuda.global.cudart.cudaStreamDefault;
import static org.bytedeco.cuda.global.cudart.cudaStreamDestroy;
import static org.bytedeco.cuda.global.cudart.cudaStreamNonBlocking;
import static org.bytedeco.cuda.global.cudart.cudaStreamWaitEvent;
import static org.bytedeco.cuda.global.nvrtc.nvrtcCompileProgram;
import static org.bytedeco.cuda.global.nvrtc.nvrtcCreateProgram;
import static org.bytedeco.cuda.global.nvrtc.nvrtcDestroyProgram;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetCUBIN;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetCUBINSize;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetProgramLog;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetProgramLogSize;
import static org.bytedeco.cuda.global.nvrtc.nvrtcVersion;

import io.bonestream.engine.backend.device.AttentionWorkload;
import io.bonestream.engine.device.Bf16;
import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.Device;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUctx_st;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.cudart.cudaDeviceProp;
import org.bytedeco.cuda.nvrtc._nvrtcProgram;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.ShortPointer;
import org.bytedeco.javacpp.SizeTPointer;

/**
 * The {@link Device} on an NVIDIA GPU, through JavaCPP's CUDA presets and the machine's CUDA 13
 * libraries: cuBLAS for every GEMM (bf16 tensor cores with float32 accumulation, or float32 with
 * TF32 off), the kernels of {@code kernels.cu} compiled at start with NVRTC for this GPU and launched
 * with the driver API. One context (the device's primary one) per JVM; every call is serialized.
 *
 * <p>Work goes to the main stream, so calls run in order; {@link #download} and
 * {@link #sumOfSquares} wait for it. {@link #onSide} work goes to a second, non-blocking stream
 * with its own cuBLAS handle, ordered with the main one by events ({@code BONESTREAM_CUDA_STREAMS}:
 * 1, the default, main = the legacy default stream; 2, main a stream of the highest priority and the
 * side one of the lowest; 0, no side stream). With {@code BONESTREAM_CUDA_SYNC=1} every call is
 * followed by a synchronization that reports a failing kernel by name.
 */
public final class CudaDevice implements Device {
  private static final int BLOCK = 256;
  private static final int MAX_GRID = 8192;
  private static final int PARTIALS = 1024;
  private static String bindingsMissing;

  private final int ordinal;
  private final CUctx_st context = new CUctx_st();
  private final cublasContext mainBlas = new cublasContext();
  // the side stream and its cuBLAS handle (null with BONESTREAM_CUDA_STREAMS=0); main is the legacy
  // default stream (null) unless BONESTREAM_CUDA_STREAMS=2
  private CUstream_st mainStream;
  private CUstream_st sideStream;
  private cublasContext sideBlas;
  private boolean onSide;
  private final java.util.List<CUevent_st> events = new java.util.ArrayList<>();
  private final CUmod_st module = new CUmod_st();
  private final Map<String, CUfunc_st> functions = new HashMap<>();
  private final ThreadLocal<Boolean> bound = ThreadLocal.withInitial(() -> false);
  private final String description;
  private final String gpuName;
  private final long totalMemory;
  private final boolean syncEach = "1".equals(System.getenv("BONESTREAM_CUDA_SYNC"));
  // kernel arguments: one 8-byte slot each, and the array of the slots' addresses cuLaunchKernel
  // reads. It must be passed as a PointerPointer: a plain Pointer for a void** parameter is taken
  // as an output (JavaCPP passes the address of a copy), which makes extra non-null and the launch
  // fail with CUDA_ERROR_INVALID_VALUE.
  private final BytePointer argSlots = new BytePointer(8 * 24);
  private final PointerPointer<Pointer> argAddresses = new PointerPointer<>(24);
  private final FloatPointer alpha = new FloatPointer(1);
  private final FloatPointer beta = new FloatPointer(1);
  private final Map<Long, Long> allocations = new HashMap<>();
  private final Buf partials;
  // bat's merge as one pass on tensor cores (bf16, sm_80+): on unless BONESTREAM_CUDA_BAT_MMA=0 or
  // its check at start disagrees with the two-pass merge
  private final boolean mergeMma;
  // which one-pass merge kernel (BONESTREAM_CUDA_BAT_MERGE: pipe, the default, or mma, the first
  // one), and the tiles of 16 view rows each warp of pipe goes through (BONESTREAM_CUDA_BAT_TILES;
  // 0, the default, picks per weight shape)
  private final String mergeKernel = envOr("BONESTREAM_CUDA_BAT_MERGE", "pipe");
  private final int mergeTiles = numberOrInvalid(envOr("BONESTREAM_CUDA_BAT_TILES", "0"));
  // bat's dB in one tensor-core kernel over W and M for weights of at most this many elements
  // (BONESTREAM_CUDA_BAT_GRAD: 0 never; by default 2^22, 2^21 at r 128: where it measured faster
  // than cuBLAS's batched GEMM plus the identity kernel); its per-split partial sums, grown when needed
  private final boolean blockGradDefault = System.getenv("BONESTREAM_CUDA_BAT_GRAD") == null;
  private final long blockGradMax = numberOrInvalid(envOr("BONESTREAM_CUDA_BAT_GRAD", "" + (1 << 22)));
  // about how many blocks bat_block_grad is launched with (BONESTREAM_CUDA_BAT_GRAD_BLOCKS)
  private final int blockGradBlocks = numberOrInvalid(envOr("BONESTREAM_CUDA_BAT_GRAD_BLOCKS", "1024"));
  private final Buf[] blockGradParts = new Buf[2]; // per stream: main, side
  private final Buf[] attentionRows = new Buf[2];  // per stream: attention's D per row
  // attention on tensor cores (attn_tc_*: bf16, head dimension 64 or 128, sm_80+) unless
  // BONESTREAM_CUDA_ATTENTION=cores; other shapes and float32 always on CUDA cores (attn_*)
  private final String attentionKernels = envOr("BONESTREAM_CUDA_ATTENTION", "tensor");
  private volatile boolean tensorAttentionAllowed = true;  // AttentionBench times both paths
  // null, or why the tensor-core attention failed its check at start (then attention stays on CUDA cores)
  private String attentionFailure;
  /** The description's words when the tensor-core attention failed its start check (selftest makes it a FAIL). */
  public static final String ATTENTION_FELL_BACK = "attention on CUDA cores (the tensor-core kernels failed their "
      + "check at start: ";
  // query rows per warp of the tensor-core forward pass and dq (BONESTREAM_CUDA_ATTENTION_ROWS): 16,
  // or 32 (attn_tc2_*: each B fragment serves two products; dq at hd 64 only). Not yet measured
  // against each other on a GPU: `kernels --attention` times both.
  private volatile int rowsPerWarp = numberOrInvalid(envOr("BONESTREAM_CUDA_ATTENTION_ROWS", "16"));
  private int major;
  private long allocated;
  private long peak;
  private Map<String, Long> profile;
  private long lastOp;
  private boolean closed;

  /** A raw device address as a JavaCPP pointer argument. */
  private static final class Address extends Pointer {
    Address(long a) {
      address = a;
    }
  }

  private CudaDevice(int ordinal) {
    this.ordinal = ordinal;
    int[] count = new int[1];
    check(cudaGetDeviceCount(count), "cudaGetDeviceCount");
    if (count[0] <= ordinal) {
      throw new CudaUnavailableException("no CUDA GPU " + ordinal + " (" + count[0] + " found)");
    }
    check(cudaSetDevice(ordinal), "cudaSetDevice");
    check(cuInit(0), "cuInit");
    int[] dev = new int[1];
    check(cuDeviceGet(dev, ordinal), "cuDeviceGet");
    check(cuDevicePrimaryCtxRetain(context, dev[0]), "cuDevicePrimaryCtxRetain");
    check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
    bound.set(true);
    cudaDeviceProp p = new cudaDeviceProp();
    check(cudaGetDeviceProperties(p, ordinal), "cudaGetDeviceProperties");
    this.gpuName = p.name().getString();
    this.totalMemory = p.totalGlobalMem();
    this.major = p.major();
    int minor = p.minor();
    int[] driver = new int[1];
    int[] runtime = new int[1];
    check(cudaDriverGetVersion(driver), "cudaDriverGetVersion");
    check(cudaRuntimeGetVersion(runtime), "cudaRuntimeGetVersion");
    check(cublasCreate_v2(mainBlas), "cublasCreate");
    check(cublasSetMathMode(mainBlas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode"); // no TF32
    int[] blasVersion = new int[1];
    check(cublasGetVersion_v2(mainBlas, blasVersion), "cublasGetVersion");
    String streams = envOr("BONESTREAM_CUDA_STREAMS", "1");
    int gemmSms = numberOrInvalid(envOr("BONESTREAM_CUDA_GEMM_SMS", "0"));
    if (!java.util.Set.of("0", "1", "2").contains(streams) || gemmSms < 0) {
      throw new IllegalStateException("BONESTREAM_CUDA_STREAMS must be 0, 1 or 2, BONESTREAM_CUDA_GEMM_SMS a "
          + "number ≥ 0");
    }
    if (!streams.equals("0")) {
      int[] least = new int[1];
      int[] greatest = new int[1];
      check(cudaDeviceGetStreamPriorityRange(least, greatest), "cudaDeviceGetStreamPriorityRange");
      boolean priorities = streams.equals("2");
      if (priorities) {
        mainStream = new CUstream_st();
        check(cudaStreamCreateWithPriority(mainStream, cudaStreamDefault, greatest[0]), "cudaStreamCreate");
        check(cublasSetStream_v2(mainBlas, mainStream), "cublasSetStream");
      }
      sideStream = new CUstream_st();
      check(cudaStreamCreateWithPriority(sideStream, cudaStreamNonBlocking, priorities ? least[0] : 0),
          "cudaStreamCreate");
      sideBlas = new cublasContext();
      check(cublasCreate_v2(sideBlas), "cublasCreate");
      check(cublasSetMathMode(sideBlas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
      check(cublasSetStream_v2(sideBlas, sideStream), "cublasSetStream");
    }
    if (gemmSms > 0) {
      check(cublasSetSmCountTarget(mainBlas, gemmSms), "cublasSetSmCountTarget");
    }
    int[] nvrtcMajor = new int[1];
    int[] nvrtcMinor = new int[1];
    check(nvrtcVersion(nvrtcMajor, nvrtcMinor), "nvrtcVersion");
    loadKernels(major, minor);
    for (int i = 0; i < 24; i++) {
      argAddresses.put(i, new Address(argSlots.address() + 8L * i));
    }
    this.partials = alloc(DType.F32, PARTIALS);
    if (!java.util.Set.of("pipe", "mma").contains(mergeKernel) || mergeTiles < 0 || blockGradMax < 0
        || blockGradBlocks < 1 || !java.util.Set.of("tensor", "cores").contains(attentionKernels)
        || (rowsPerWarp != 16 && rowsPerWarp != 32)) {
      throw new IllegalStateException("BONESTREAM_CUDA_BAT_MERGE must be pipe or mma, BONESTREAM_CUDA_BAT_TILES "
          + "and BONESTREAM_CUDA_BAT_GRAD numbers ≥ 0, BONESTREAM_CUDA_BAT_GRAD_BLOCKS a number ≥ 1, "
          + "BONESTREAM_CUDA_ATTENTION tensor or cores, BONESTREAM_CUDA_ATTENTION_ROWS 16 or 32");
    }
    String mergeState;
    if (major < 8) {
      mergeState = "bat merge in two passes (no bf16 tensor-core kernel before sm_80)";
    } else if ("0".equals(System.getenv("BONESTREAM_CUDA_BAT_MMA"))) {
      mergeState = "bat merge in two passes (BONESTREAM_CUDA_BAT_MMA=0)";
    } else {
      String failure = checkMergeMma();
      mergeState = failure == null ? "bat merge on tensor cores" : "bat merge in two passes (" + failure + ")";
      if (failure != null) {
        System.err.println("warning: " + mergeState);
      }
    }
    if (major >= 8 && "tensor".equals(attentionKernels)) {
      attentionFailure = checkTensorCoreAttention();
      if (attentionFailure != null) {
        System.err.println("warning: " + ATTENTION_FELL_BACK + attentionFailure + ")");
      }
    }
    this.mergeMma = mergeState.endsWith("tensor cores");
    if (mergeMma) {
      mergeState += " (" + mergeKernel + ")";
    }
    if (major >= 8) {
      mergeState += blockGradMax == 0 ? ", bat dB in two passes (BONESTREAM_CUDA_BAT_GRAD=0)"
          : ", bat dB in one pass up to " + blockGradMax + " weights" + (blockGradDefault ? " (half at r 128)" : "");
    }
    this.description = String.format(java.util.Locale.ROOT,
        "%s (sm_%d%d, %.0f GiB), driver %s, runtime %s, cuBLAS %d, NVRTC %d.%d, %s", gpuName, major, minor,
        totalMemory / 1073741824.0, version(driver[0]), version(runtime[0]), blasVersion[0], nvrtcMajor[0],
        nvrtcMinor[0], mergeState + (sideStream == null ? ", one stream"
            : mainStream == null ? ", side stream" : ", side stream, main at high priority")
            + (gemmSms > 0 ? ", GEMMs on " + gemmSms + " SMs" : "")
            + (major < 8 ? ", attention on CUDA cores (no bf16 tensor-core kernel before sm_80)"
                : "cores".equals(attentionKernels) ? ", attention on CUDA cores (BONESTREAM_CUDA_ATTENTION=cores)"
                : attentionFailure != null ? ", " + ATTENTION_FELL_BACK + attentionFailure + ")"
                : ", bf16 attention on tensor cores at head dimensions 64 and 128"
                    + (rowsPerWarp == 32 ? " (32 query rows per warp)" : "")));
  }

  /**
   * Runs the one-pass bat merge and the two-pass one on the same random bf16 inputs for every width
   * it supports, a small weight (one tile per warp) and a 4096 × 4096 one (several, as in real
   * models): null when they agree (relative L2 ≤ 1e-2, both roundings to bf16 included), else what
   * went wrong.
   */
  private String checkMergeMma() {
    for (int[] shape : new int[][] {{32, 64, 96}, {64, 128, 192}, {128, 256, 384}, {32, 4096, 4096},
        {64, 4096, 4096}, {128, 4096, 4096}}) {
      int r = shape[0];
      int outF = shape[1];
      int inF = shape[2];
      Buf w = alloc(DType.BF16, (long) outF * inF);
      Buf blocks = alloc(DType.F32, (long) outF * r);
      Buf blocksAct = alloc(DType.BF16, (long) outF * r);
      Buf one = alloc(DType.BF16, (long) outF * inF);
      Buf two = alloc(DType.BF16, (long) outF * inF);
      try {
        randomNormal(w, 1f, 11);
        randomNormal(blocks, 0.1f, 12);
        copy(blocks, blocksAct);
        mergeOnePass(w, blocks, blocksAct, one, outF, inF, r);
        mergeTwoPasses(w, blocks, blocksAct, two, outF, inF, r);
        float[] x = download(one);
        float[] y = download(two);
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < x.length; i++) {
          diff += Math.pow((double) x[i] - y[i], 2);
          norm += Math.pow(y[i], 2);
        }
        double rel = Math.sqrt(diff / norm);
        if (!(rel <= 1e-2)) { // NaN fails
          return "the tensor-core kernel is off by " + rel + " at r " + r + ", " + outF + " x " + inF;
        }
      } catch (IllegalStateException e) {
        return "the tensor-core kernel failed: " + e.getMessage();
      } finally {
        free(w);
        free(blocks);
        free(blocksAct);
        free(one);
        free(two);
      }
    }
    return null;
  }

  /**
   * Runs bf16 attention, forward and backward, on the tensor-core kernels (16 and 32 query rows per
   * warp) and on the CUDA-core ones on the same random inputs at both head dimensions, sequences
   * over two tiles and a group of two query heads: null when they agree (relative L2 ≤ 2e-2 on the
   * output and the three gradients; each is within about 3e-3 of a float64 reference on the CPU
   * emulator), else what went wrong. Run at start, before any training uses them.
   */
  private String checkTensorCoreAttention() {
    int seq = 150;
    int group = 2;
    int rows = rowsPerWarp;
    for (int hd : new int[] {64, 128}) {
      try (AttentionWorkload w = new AttentionWorkload(this, DType.BF16, 1, 1, group, seq, hd, 21)) {
        float[][] cores = null;
        for (int variant = 0; variant < 3; variant++) {
          tensorAttentionAllowed = variant > 0;
          rowsPerWarp = variant == 2 ? 32 : 16;
          float[][] got = w.solve(); // outputs cleared: a kernel that writes nothing cannot pass on the last's
          if (variant == 0) {
            cores = got;
            continue;
          }
          double[] distances = AttentionWorkload.distances(got, cores);
          for (int i = 0; i < distances.length; i++) {
            if (!(distances[i] <= 2e-2)) { // NaN fails
              return "its " + AttentionWorkload.RESULTS.get(i) + " is off by " + distances[i] + " at hd " + hd + ", "
                  + (variant == 2 ? 32 : 16) + " rows per warp";
            }
          }
        }
      } catch (IllegalStateException e) {
        return "they failed: " + e.getMessage();
      } finally {
        tensorAttentionAllowed = true;
        rowsPerWarp = rows;
      }
    }
    return null;
  }


  /**
   * Opens GPU {@code ordinal}, or fails with one line naming what is missing (the JNI bindings, a
   * CUDA library, the driver, a GPU).
   */
  public static synchronized CudaDevice open(int ordinal) {
    // A class whose native library failed to load cannot be retried (the JVM remembers only
    // "could not initialize"): keep the first, precise diagnosis.
    if (bindingsMissing != null) {
      throw new CudaUnavailableException(bindingsMissing);
    }
    try {
      org.bytedeco.javacpp.Loader.load(org.bytedeco.cuda.global.cudart.class);
      org.bytedeco.javacpp.Loader.load(org.bytedeco.cuda.global.cublas.class);
      org.bytedeco.javacpp.Loader.load(org.bytedeco.cuda.global.nvrtc.class);
    } catch (Throwable e) { // UnsatisfiedLinkError, NoClassDefFoundError, ExceptionInInitializerError
      bindingsMissing = "cuda backend unavailable: " + CudaDiagnosis.explain(e);
      throw new CudaUnavailableException(bindingsMissing);
    }
    try {
      return new CudaDevice(ordinal);
    } catch (IllegalStateException e) { // no GPU visible, driver too old, ...
      throw new CudaUnavailableException("cuda backend unavailable: " + e.getMessage());
    }
  }

  private static String envOr(String name, String fallback) {
    String v = System.getenv(name);
    return v == null || v.isBlank() ? fallback : v.trim();
  }

  private static String version(int v) {
    return (v / 1000) + "." + (v % 1000) / 10;
  }

  /** The number, or -1 when it is not one. */
  private static int numberOrInvalid(String text) {
    try {
      return Integer.parseInt(text);
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  /** GPU name, e.g. {@code NVIDIA H200}. */
  public String gpuName() {
    return gpuName;
  }

  public long totalMemory() {
    return totalMemory;
  }

  /** Bytes in use on the whole GPU now (every process, the CUDA context included). */
  public synchronized long deviceMemoryUsed() {
    bind();
    SizeTPointer free = new SizeTPointer(1);
    SizeTPointer total = new SizeTPointer(1);
    check(cudaMemGetInfo(free, total), "cudaMemGetInfo");
    return total.get() - free.get();
  }

  @Override
  public String describe() {
    return description;
  }

  private void loadKernels(int major, int minor) {
    String source;
    try (InputStream in = CudaDevice.class.getResourceAsStream("kernels.cu")) {
      source = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException | NullPointerException e) {
      throw new IllegalStateException("kernels.cu is missing from the classpath", e);
    }
    _nvrtcProgram prog = new _nvrtcProgram();
    check(nvrtcCreateProgram(prog, new BytePointer(source), new BytePointer("kernels.cu"), 0,
        (PointerPointer<?>) null, (PointerPointer<?>) null), "nvrtcCreateProgram");
    String[] options = {"--gpu-architecture=sm_" + major + minor, "-std=c++17"};
    int rc = nvrtcCompileProgram(prog, options.length, new PointerPointer<>(options));
    SizeTPointer size = new SizeTPointer(1);
    nvrtcGetProgramLogSize(prog, size);
    BytePointer log = new BytePointer(size.get());
    nvrtcGetProgramLog(prog, log);
    if (rc != 0) {
      throw new IllegalStateException("NVRTC could not compile kernels.cu for sm_" + major + minor + ": "
          + log.getString());
    }
    check(nvrtcGetCUBINSize(prog, size), "nvrtcGetCUBINSize");
    BytePointer cubin = new BytePointer(size.get());
    check(nvrtcGetCUBIN(prog, cubin), "nvrtcGetCUBIN");
    check(cuModuleLoadData(module, cubin), "cuModuleLoadData");
    nvrtcDestroyProgram(prog);
  }

  /** Makes this device's context current on the calling thread (once per thread). */
  private void bind() {
    if (closed) {
      throw new IllegalStateException("the CUDA device is closed");
    }
    if (!bound.get()) {
      check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
      check(cudaSetDevice(ordinal), "cudaSetDevice");
      bound.set(true);
    }
  }

  static void check(int rc, String what) {
    if (rc != 0) {
      String detail;
      try {
        BytePointer s = cudaGetErrorString(rc);
        detail = s == null ? "" : s.getString();
      } catch (Throwable t) {
        detail = "";
      }
      throw new IllegalStateException(what + " failed with error " + rc + (detail.isEmpty() ? "" : " (" + detail + ")"));
    }
  }

  private void after(String what) {
    if (syncEach || profile != null) {
      check(cudaDeviceSynchronize(), what);
    }
    if (profile != null) {
      long now = System.nanoTime();
      profile.merge(what, now - lastOp, Long::sum);
      lastOp = now;
    }
  }

  /**
   * Starts (or, with false, stops) timing every operation by name, synchronizing after each: the
   * time between two synchronizations is charged to the operation that ended it. For finding where
   * a step's time goes; it slows the step down.
   */
  public synchronized void profile(boolean on) {
    bind();
    check(cudaDeviceSynchronize(), "profile");
    profile = on ? new java.util.TreeMap<>() : null;
    lastOp = System.nanoTime();
  }

  /** Seconds per operation name since {@link #profile(boolean)} started. */
  public synchronized Map<String, Double> profileSeconds() {
    Map<String, Double> out = new java.util.LinkedHashMap<>();
    if (profile != null) {
      profile.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue(), a.getValue()))
          .forEach(e -> out.put(e.getKey(), e.getValue() / 1e9));
    }
    return out;
  }

  // ------------------------------------------------------------------ memory

  @Override
  public synchronized Buf alloc(DType type, long size) {
    bind();
    long bytes = Math.max(1, size) * type.bytes();
    Pointer p = new Pointer();
    int rc = cudaMalloc(p, bytes);
    if (rc != 0) {
      throw new IllegalStateException(String.format(java.util.Locale.ROOT,
          "out of GPU memory: cannot allocate %.2f GiB (%.2f GiB allocated by bonestream, error %d)",
          bytes / 1073741824.0, allocated / 1073741824.0, rc));
    }
    check(cudaMemsetAsync(p, 0, bytes, stream()), "cudaMemset");
    allocations.put(p.address(), bytes);
    allocated += bytes;
    peak = Math.max(peak, allocated);
    return Buf.ofAddress(p.address(), type, size);
  }

  @Override
  public synchronized void free(Buf buf) {
    bind();
    Long bytes = allocations.remove(buf.baseAddress());
    if (bytes == null || buf.offset() != 0) {
      throw new IllegalArgumentException("not an allocation of this device: " + buf);
    }
    check(cudaFree(new Address(buf.baseAddress())), "cudaFree");
    allocated -= bytes;
  }

  @Override
  public synchronized long allocatedBytes() {
    return allocated;
  }

  @Override
  public synchronized long peakAllocatedBytes() {
    return peak;
  }

  @Override
  public synchronized void resetPeak() {
    peak = allocated;
  }

  @Override
  public synchronized void upload(float[] src, Buf dst) {
    bind();
    if (src.length != dst.size()) {
      throw new IllegalArgumentException("upload of " + src.length + " values into " + dst);
    }
    if (src.length == 0) {
      return;
    }
    if (dst.type() == DType.F32) {
      try (FloatPointer h = new FloatPointer(src)) {
        check(cudaMemcpy(new Address(dst.pointer()), h, 4L * src.length, cudaMemcpyHostToDevice), "upload");
      }
      after("upload");
    } else if (dst.type() == DType.BF16) {
      short[] bits = new short[src.length];
      for (int i = 0; i < bits.length; i++) {
        bits[i] = Bf16.bits(src[i]);
      }
      try (ShortPointer h = new ShortPointer(bits)) {
        check(cudaMemcpy(new Address(dst.pointer()), h, 2L * src.length, cudaMemcpyHostToDevice), "upload");
      }
    } else {
      throw new IllegalArgumentException("float upload into " + dst);
    }
  }

  /**
   * The bytes straight from the (mapped) buffer to the GPU: no conversion, so a bf16 checkpoint's
   * values arrive as they are stored.
   */
  @Override
  public synchronized void uploadBytes(java.nio.ByteBuffer src, Buf dst) {
    bind();
    long bytes = dst.size() * dst.type().bytes();
    if (dst.type() == DType.I32 || src.remaining() != bytes) {
      throw new IllegalArgumentException("upload of " + src.remaining() + " bytes into " + dst);
    }
    if (bytes == 0) {
      return;
    }
    // from the buffer itself where it is direct (a mapped checkpoint): JavaCPP's pointer starts at its
    // position; a heap buffer is copied out first
    java.nio.ByteBuffer direct = src.isDirect() ? src
        : java.nio.ByteBuffer.allocateDirect((int) bytes).put(src.duplicate()).flip();
    check(cudaMemcpy(new Address(dst.pointer()), new BytePointer(direct), bytes, cudaMemcpyHostToDevice), "upload");
    after("upload");
  }

  @Override
  public synchronized void upload(int[] src, Buf dst) {
    bind();
    if (src.length != dst.size() || dst.type() != DType.I32) {
      throw new IllegalArgumentException("int upload of " + src.length + " values into " + dst);
    }
    if (src.length == 0) {
      return;
    }
    try (IntPointer h = new IntPointer(src)) {
      check(cudaMemcpy(new Address(dst.pointer()), h, 4L * src.length, cudaMemcpyHostToDevice), "upload");
    }
  }

  @Override
  public synchronized float[] download(Buf src) {
    bind();
    int n = Math.toIntExact(src.size());
    float[] out = new float[n];
    if (n == 0) {
      return out;
    }
    if (src.type() == DType.F32) {
      try (FloatPointer h = new FloatPointer(n)) {
        check(cudaMemcpy(h, new Address(src.pointer()), 4L * n, cudaMemcpyDeviceToHost), "download");
        h.get(out);
      }
    } else if (src.type() == DType.BF16) {
      try (ShortPointer h = new ShortPointer(n)) {
        check(cudaMemcpy(h, new Address(src.pointer()), 2L * n, cudaMemcpyDeviceToHost), "download");
        short[] bits = new short[n];
        h.get(bits);
        for (int i = 0; i < n; i++) {
          out[i] = Bf16.value(bits[i]);
        }
      }
    } else {
      throw new IllegalArgumentException("float download of " + src);
    }
    return out;
  }

  @Override
  public synchronized void copy(Buf src, Buf dst) {
    bind();
    if (src.size() != dst.size()) {
      throw new IllegalArgumentException("copy of " + src + " into " + dst);
    }
    if (src.type() == dst.type()) {
      check(cudaMemcpyAsync(new Address(dst.pointer()), new Address(src.pointer()),
          src.size() * src.type().bytes(), cudaMemcpyDeviceToDevice, stream()), "copy");
    } else {
      launchGridU("convert_" + suffix(src.type()) + suffix(dst.type()), src.size(),
          a -> a.ptr(src).ptr(dst).i64(src.size()));
    }
    after("copy");
  }

  @Override
  public synchronized void zero(Buf buf) {
    bind();
    check(cudaMemsetAsync(new Address(buf.pointer()), 0, buf.size() * buf.type().bytes(), stream()), "memset");
    after("zero");
  }

  @Override
  public synchronized void synchronize() {
    bind();
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  }

  // ------------------------------------------------------------------ streams

  /** The stream calls go to now: the side one inside {@link #onSide}, else the main one. */
  private CUstream_st stream() {
    return onSide ? sideStream : mainStream;
  }

  private cublasContext blas() {
    return onSide ? sideBlas : mainBlas;
  }

  /** An event of this device. */
  private static final class CudaEvent implements Event {
    final CUevent_st event;

    CudaEvent(CUevent_st event) {
      this.event = event;
    }
  }

  @Override
  public boolean hasSideStream() {
    return sideStream != null;
  }

  @Override
  public synchronized void onSide(Runnable work) {
    if (sideStream == null) {
      work.run();
      return;
    }
    boolean was = onSide;
    onSide = true;
    try {
      work.run();
    } finally {
      onSide = was;
    }
  }

  @Override
  public synchronized Event newEvent() {
    bind();
    CUevent_st e = new CUevent_st();
    check(cudaEventCreateWithFlags(e, cudaEventDisableTiming), "cudaEventCreate");
    events.add(e);
    return new CudaEvent(e);
  }

  @Override
  public synchronized void record(Event event) {
    bind();
    check(cudaEventRecord(cudaEvent(event), stream()), "cudaEventRecord");
  }

  @Override
  public synchronized void await(Event event) {
    bind();
    check(cudaStreamWaitEvent(stream(), cudaEvent(event), 0), "cudaStreamWaitEvent");
  }

  private static CUevent_st cudaEvent(Event event) {
    if (!(event instanceof CudaEvent e)) {
      throw new IllegalArgumentException("not an event of a CUDA device: " + event);
    }
    return e.event;
  }

  // ------------------------------------------------------------------ GEMM

  private static int cudaType(DType t) {
    return switch (t) {
      case F32 -> CUDA_R_32F;
      case BF16 -> CUDA_R_16BF;
      case I32 -> throw new IllegalArgumentException("no GEMM on I32");
    };
  }

  // Row-major C (m, n) = op(A) op(B) is column-major Cᵀ (n, m) = op(B)ᵀ op(A)ᵀ: cuBLAS gets the
  // operands swapped, each with its own transpose flag and leading dimension.
  @Override
  public synchronized void gemm(boolean transA, boolean transB, int m, int n, int k, float alphaValue, Buf a,
      int lda, Buf b, int ldb, float betaValue, Buf c, int ldc) {
    bind();
    if (a.type() != b.type()) {
      throw new IllegalArgumentException("GEMM operands of two types: " + a + ", " + b);
    }
    alpha.put(0, alphaValue);
    beta.put(0, betaValue);
    check(cublasGemmEx(blas(), transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k,
        alpha, new Address(b.pointer()), cudaType(b.type()), ldb, new Address(a.pointer()), cudaType(a.type()), lda,
        beta, new Address(c.pointer()), cudaType(c.type()), ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "cublasGemmEx " + m + "x" + n + "x" + k);
    after(profile == null ? "gemm" : "gemm " + c.type() + " " + m + "x" + n + "x" + k);
  }

  @Override
  public synchronized void gemmBatched(boolean transA, boolean transB, int m, int n, int k, float alphaValue,
      Buf a, int lda, long strideA, Buf b, int ldb, long strideB, float betaValue, Buf c, int ldc, long strideC,
      int batch) {
    bind();
    if (a.type() != b.type()) {
      throw new IllegalArgumentException("GEMM operands of two types: " + a + ", " + b);
    }
    alpha.put(0, alphaValue);
    beta.put(0, betaValue);
    check(cublasGemmStridedBatchedEx(blas(), transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N,
        n, m, k, alpha, new Address(b.pointer()), cudaType(b.type()), ldb, strideB, new Address(a.pointer()),
        cudaType(a.type()), lda, strideA, beta, new Address(c.pointer()), cudaType(c.type()), ldc, strideC, batch,
        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), "cublasGemmStridedBatchedEx " + m + "x" + n + "x" + k + "x" + batch);
    after(profile == null ? "gemmBatched" : "gemmBatched " + c.type() + " " + m + "x" + n + "x" + k + "x" + batch);
  }

  // ------------------------------------------------------------------ kernels

  /** Writes a kernel's arguments into the argument slots, in order. */
  private final class Args {
    private int i;

    Args ptr(Buf b) {
      argSlots.putLong(8L * i++, b == null ? 0L : b.pointer());
      return this;
    }

    Args i32(int v) {
      argSlots.putInt(8L * i++, v);
      return this;
    }

    Args i64(long v) {
      argSlots.putLong(8L * i++, v);
      return this;
    }

    Args f32(float v) {
      argSlots.putFloat(8L * i++, v);
      return this;
    }
  }

  private CUfunc_st function(String name) {
    CUfunc_st f = functions.get(name);
    if (f == null) {
      f = new CUfunc_st();
      check(cuModuleGetFunction(f, module, name), "cuModuleGetFunction " + name);
      functions.put(name, f);
    }
    return f;
  }

  private void launch(String name, long grid, int block, java.util.function.Consumer<Args> args) {
    launch2(name, grid, 1, block, args);
  }

  private void launch2(String name, long gridX, long gridY, int block, java.util.function.Consumer<Args> args) {
    if (gridX <= 0 || gridY <= 0) {
      return;
    }
    if (gridX > Integer.MAX_VALUE || gridY > 65535) {
      throw new IllegalArgumentException(name + ": grid " + gridX + " x " + gridY + " is too large");
    }
    args.accept(new Args());
    check(cuLaunchKernel(function(name), (int) gridX, (int) gridY, 1, block, 1, 1, 0, stream(),
        argAddresses, (PointerPointer<?>) null), "launch " + name);
    after(name);
  }

  /** A grid-stride kernel over {@code n} elements (32-bit indices in the kernels). */
  private void launchGrid(String name, long n, java.util.function.Consumer<Args> args) {
    if (n >= Integer.MAX_VALUE) {
      throw new IllegalArgumentException(name + ": " + n + " elements, more than a kernel indexes (2^31)");
    }
    launch(name, Math.min(MAX_GRID, (n + BLOCK - 1) / BLOCK), BLOCK, args);
  }

  private static String suffix(DType t) {
    return switch (t) {
      case F32 -> "f";
      case BF16 -> "b";
      case I32 -> throw new IllegalArgumentException("no kernel on I32 values");
    };
  }

  @Override
  public synchronized void embed(Buf ids, Buf table, Buf out, int rows, int dim) {
    bind();
    launchGrid("embed_" + suffix(table.type()), (long) rows * dim,
        a -> a.ptr(ids).ptr(table).ptr(out).i32(rows).i32(dim));
  }

  @Override
  public synchronized void rmsnormForward(Buf x, Buf w, float eps, Buf out, Buf invRms, int rows, int dim) {
    bind();
    launch("rmsnorm_fwd_" + suffix(out.type()), rows, BLOCK, a -> a.ptr(x).ptr(w).f32(eps).ptr(out).ptr(invRms).i32(dim));
  }

  @Override
  public synchronized void rmsnormBackward(Buf x, Buf w, Buf invRms, Buf dy, Buf dyTile, int r, Buf dx, Buf dxAct,
      int rows, int dim, boolean accumulate) {
    bind();
    String t = dxAct == null ? "f" : suffix(dxAct.type());
    launch("rmsnorm_bwd_" + t, rows, BLOCK, a -> a.ptr(x).ptr(w).ptr(invRms).ptr(dy).ptr(dyTile).i32(r).ptr(dx)
        .ptr(dxAct).i32(dim).i32(accumulate ? 1 : 0));
  }

  @Override
  public synchronized void toHeads(Buf in, Buf inTile, int r, Buf cos, Buf sin, Buf out, int batch, int seq,
      int heads, int headDim, boolean rotate) {
    bind();
    launchHeads("to_heads_" + suffix(in.type()) + suffix(out.type()), batch, seq, heads, headDim,
        a -> a.ptr(in).ptr(inTile).i32(r).ptr(cos).ptr(sin).ptr(out).i32(seq).i32(heads).i32(headDim)
            .i32(rotate ? 1 : 0));
  }

  @Override
  public synchronized void fromHeads(Buf in, Buf cos, Buf sin, Buf out, int batch, int seq, int heads, int headDim,
      boolean unrotate) {
    bind();
    launchHeads("from_heads_" + suffix(in.type()) + suffix(out.type()), batch, seq, heads, headDim,
        a -> a.ptr(in).ptr(cos).ptr(sin).ptr(out).i32(seq).i32(heads).i32(headDim).i32(unrotate ? 1 : 0));
  }

  /** A kernel taking 4 elements per thread and pass (the U of kernels.cu). */
  private void launchGridU(String name, long n, java.util.function.Consumer<Args> args) {
    if (n >= Integer.MAX_VALUE) {
      throw new IllegalArgumentException(name + ": " + n + " elements, more than a kernel indexes (2^31)");
    }
    launch(name, Math.min(MAX_GRID, (n + 4L * BLOCK - 1) / (4L * BLOCK)), BLOCK, args);
  }

  /** Head permutations: x over one (T, hd) plane, y over the B·H planes. */
  private void launchHeads(String name, int batch, int seq, int heads, int headDim,
      java.util.function.Consumer<Args> args) {
    long plane = (long) seq * headDim;
    if (plane * batch * heads >= Integer.MAX_VALUE) {
      throw new IllegalArgumentException(name + ": tensor too large for 32-bit indices");
    }
    launch2(name, Math.min(1024, (plane + 4L * BLOCK - 1) / (4L * BLOCK)), (long) batch * heads, BLOCK, args);
  }

  /** Query rows per block of attn_fwd and attn_bwd_dq (kernels.cu: ATT_WARPS · ATT_ROWS). */
  static final int ATT_QUERY_ROWS = 16;
  static final int ATT_THREADS = 128;

  /** The head-dimension variant of the attention kernels: hd rounded up to 32, 64, 128 or 256. */
  static int attentionWidth(int headDim) {
    for (int w : new int[] {32, 64, 128, 256}) {
      if (headDim <= w) {
        return w;
      }
    }
    throw new IllegalArgumentException("attention: head dimension " + headDim + " above 256");
  }

  /** Keys per block of attn_bwd_dkv (kernels.cu: ATT_WARPS · ATT_KPW(HD)). */
  static int attentionKeysPerBlock(int width) {
    return 4 * (width >= 256 ? 2 : width >= 128 ? 4 : 8);
  }

  private static void checkAttention(int batch, int heads, int seq, int headDim) {
    if ((long) batch * heads * seq * headDim >= Integer.MAX_VALUE || (long) batch * heads > 65535) {
      throw new IllegalArgumentException("attention: " + batch + " x " + heads + " heads of " + seq + " x "
          + headDim + " is too large for one launch");
    }
  }

  /** Query rows (forward, dq) or keys (dk, dv) per block of the attn_tc_* kernels (kernels.cu: TC_ROWS). */
  static final int TC_ROWS = 64;

  /**
   * Whether attention runs on the tensor-core kernels attn_tc_*: bf16, a head dimension they are
   * built for, a GPU with bf16 mma (sm_80+), not turned off, and every tensor 16-byte aligned
   * (their 16-byte loads).
   */
  private boolean tensorCoreAttention(int headDim, Buf q, Buf... others) {
    if (major < 8 || !"tensor".equals(attentionKernels) || !tensorAttentionAllowed || attentionFailure != null
        || (headDim != 64 && headDim != 128)
        || q.type() != DType.BF16 || (q.pointer() & 15) != 0) {
      return false;
    }
    for (Buf b : others) {
      if ((b.pointer() & 15) != 0) {
        return false;
      }
    }
    return true;
  }

  /** For AttentionBench: false sends every attention call to the CUDA-core kernels. */
  void allowTensorCoreAttention(boolean allowed) {
    tensorAttentionAllowed = allowed;
  }

  /** For AttentionBench: the tensor-core forward pass's and dq's query rows per warp, 16 or 32. */
  void attentionRowsPerWarp(int rows) {
    if (rows != 16 && rows != 32) {
      throw new IllegalArgumentException("16 or 32 query rows per warp, not " + rows);
    }
    rowsPerWarp = rows;
  }

  int attentionRowsPerWarp() {
    return rowsPerWarp;
  }

  /** Whether attention with this head dimension on buffers like q runs on the tensor-core kernels. */
  boolean usesTensorCoreAttention(int headDim, Buf q) {
    return tensorCoreAttention(headDim, q);
  }

  // kernels.cu's attn_tc_* (bf16 on tensor cores, hd 64 and 128) or attn_* (CUDA cores, every
  // other case). cuDNN's fused attention is the other candidate, not yet measured against them.
  @Override
  public synchronized void attentionForward(Buf q, Buf k, Buf v, Buf out, Buf lse, int batch, int kvHeads, int group,
      int seq, int headDim, float scale) {
    bind();
    int heads = kvHeads * group;
    checkAttention(batch, heads, seq, headDim);
    if (tensorCoreAttention(headDim, q, k, v, out, lse)) {
      boolean two = rowsPerWarp == 32;
      int rows = two ? 2 * TC_ROWS : TC_ROWS;
      launch2((two ? "attn_tc2_fwd_" : "attn_tc_fwd_") + headDim, (seq + rows - 1) / rows, (long) batch * heads,
          ATT_THREADS,
          a -> a.ptr(q).ptr(k).ptr(v).ptr(out).ptr(lse).i32(kvHeads).i32(group).i32(seq).i32(headDim).f32(scale));
      return;
    }
    String kernel = "attn_fwd_" + suffix(q.type()) + "_" + attentionWidth(headDim);
    launch2(kernel, (seq + ATT_QUERY_ROWS - 1) / ATT_QUERY_ROWS, (long) batch * heads, ATT_THREADS,
        a -> a.ptr(q).ptr(k).ptr(v).ptr(out).ptr(lse).i32(kvHeads).i32(group).i32(seq).i32(headDim).f32(scale));
  }

  @Override
  public synchronized void attentionBackward(Buf q, Buf k, Buf v, Buf out, Buf dOut, Buf lse, Buf dq, Buf dk, Buf dv,
      int batch, int kvHeads, int group, int seq, int headDim, float scale) {
    bind();
    int heads = kvHeads * group;
    checkAttention(batch, heads, seq, headDim);
    Buf dd = attentionRows((long) batch * heads * seq);
    if (tensorCoreAttention(headDim, q, k, v, dOut, lse, dq, dk, dv, dd)) {
      int blocks = (seq + TC_ROWS - 1) / TC_ROWS;
      boolean two = rowsPerWarp == 32 && headDim == 64;  // attn_tc2_bwd_dq_128 would spill
      int dqRows = two ? 2 * TC_ROWS : TC_ROWS;
      launch2((two ? "attn_tc2_bwd_dq_" : "attn_tc_bwd_dq_") + headDim, (seq + dqRows - 1) / dqRows,
          (long) batch * heads, ATT_THREADS,
          a -> a.ptr(q).ptr(k).ptr(v).ptr(dOut).ptr(lse).ptr(dq).ptr(dd).i32(kvHeads).i32(group).i32(seq)
              .i32(headDim).f32(scale));
      launch2("attn_tc_bwd_dkv_" + headDim, blocks, (long) batch * kvHeads, ATT_THREADS,
          a -> a.ptr(q).ptr(k).ptr(v).ptr(dOut).ptr(lse).ptr(dd).ptr(dk).ptr(dv).i32(kvHeads).i32(group).i32(seq)
              .i32(headDim).f32(scale));
      return;
    }
    int width = attentionWidth(headDim);
    String t = suffix(q.type()) + "_" + width;
    // D per row (into dd) and dq; then dk, dv reading D. out is not read: see Device#attentionBackward
    launch2("attn_bwd_dq_" + t, (seq + ATT_QUERY_ROWS - 1) / ATT_QUERY_ROWS, (long) batch * heads, ATT_THREADS,
        a -> a.ptr(q).ptr(k).ptr(v).ptr(dOut).ptr(lse).ptr(dq).ptr(dd).i32(kvHeads).i32(group).i32(seq)
            .i32(headDim).f32(scale));
    int keys = attentionKeysPerBlock(width);
    launch2("attn_bwd_dkv_" + t, (seq + keys - 1) / keys, (long) batch * kvHeads, ATT_THREADS,
        a -> a.ptr(q).ptr(k).ptr(v).ptr(dOut).ptr(lse).ptr(dd).ptr(dk).ptr(dv).i32(kvHeads).i32(group).i32(seq)
            .i32(headDim).f32(scale));
  }

  /** The current stream's (B, H, T) float32 scratch of attention's backward pass (D per row), grown when needed. */
  private Buf attentionRows(long size) {
    int s = onSide ? 1 : 0;
    if (attentionRows[s] == null || attentionRows[s].size() < size) {
      if (attentionRows[s] != null) {
        free(attentionRows[s]);
      }
      attentionRows[s] = alloc(DType.F32, size);
    }
    return attentionRows[s].slice(0, size);
  }

  @Override
  public synchronized void swiglu(Buf gate, Buf up, Buf out, long n) {
    bind();
    launchGridU("swiglu_" + suffix(out.type()), n, a -> a.ptr(gate).ptr(up).ptr(out).i64(n));
  }

  @Override
  public synchronized void swigluBackward(Buf gate, Buf up, Buf dOut, Buf dOutTile, int r, Buf dGate, Buf dUp,
      Buf out, int rows, int cols) {
    bind();
    launchGridU("swiglu_bwd_" + suffix(gate.type()), (long) rows * cols, a -> a.ptr(gate).ptr(up).ptr(dOut)
        .ptr(dOutTile).i32(r).ptr(dGate).ptr(dUp).ptr(out).i32(rows).i32(cols));
  }

  @Override
  public synchronized void crossEntropy(Buf logits, Buf targets, Buf weights, float gradScale, Buf rowLoss,
      Buf dLogits, int rows, int vocab) {
    bind();
    String t = dLogits == null ? "f" : suffix(dLogits.type());
    launch("cross_entropy_" + t, rows, 1024,
        a -> a.ptr(logits).ptr(targets).ptr(weights).f32(gradScale).ptr(rowLoss).ptr(dLogits).i32(vocab));
  }

  @Override
  public synchronized void batMerge(Buf w, Buf blocks, Buf blocksAct, Buf out, int outF, int inF, int r) {
    bind();
    if (mergeMma && w.type() == DType.BF16 && out.type() == DType.BF16 && blocksAct.type() == DType.BF16
        && (r == 32 || r == 64 || r == 128) && outF % r == 0 && inF % r == 0 && outF / r <= 65535
        && w.pointer() % 16 == 0 && out.pointer() % 16 == 0 && blocksAct.pointer() % 16 == 0
        && blocks.pointer() % 8 == 0) {
      mergeOnePass(w, blocks, blocksAct, out, outF, inF, r);
    } else {
      mergeTwoPasses(w, blocks, blocksAct, out, outF, inF, r);
    }
  }

  /** The one-pass merge: bat_merge_pipe_R (r 32, 64), else the first kernel, bat_merge_mma_R. */
  private void mergeOnePass(Buf w, Buf blocks, Buf blocksAct, Buf out, int outF, int inF, int r) {
    if (r != 128 && mergeKernel.equals("pipe")) {
      mergePipelined(w, blocks, blocksAct, out, outF, inF, r, mergeTiles > 0 ? mergeTiles : tilesPerWarp(outF, inF, r));
    } else {
      mergeFirstKernel(w, blocks, blocksAct, out, outF, inF, r);
    }
  }

  /**
   * Tiles per warp for bat_merge_pipe: 8, halved while that leaves fewer than 256 blocks (two per
   * SM of an H200). Measured on the H200 (docs/gpu.md, bonestream kernels): 8 was best or within 3%
   * for the 8B and 1.1B weights with enough bands, 4 (or fewer) for the narrow k/v weights.
   */
  static int tilesPerWarp(int outF, int inF, int r) {
    int tiles = inF / 16;
    int perWarp = 8;
    while (perWarp > 1 && (long) (outF / r) * ((tiles + 4L * perWarp - 1) / (4L * perWarp)) < 256) {
      perWarp /= 2;
    }
    return perWarp;
  }

  /**
   * kernels.cu's bat_merge_pipe_R (R = 32 or 64): 4 warps per block, blocks y over the bands, x so
   * that each warp goes through about {@code tilesPerWarp} tiles of the band.
   */
  void mergePipelined(Buf w, Buf blocks, Buf blocksAct, Buf out, int outF, int inF, int r, int tilesPerWarp) {
    long tiles = inF / 16;
    long gridX = Math.max(1, (tiles + 4L * tilesPerWarp - 1) / (4L * tilesPerWarp));
    launch2("bat_merge_pipe_" + r, gridX, outF / r, 128, a -> a.ptr(w).ptr(blocks).ptr(blocksAct).ptr(out).i32(inF));
  }

  /**
   * kernels.cu's bat_merge_mma_R, the first one-pass merge (one tile in flight per warp, in
   * registers; r 128's, and the others' for comparison): blocks y over the bands a, x over tiles of
   * 16 view rows (a warp each), about 4 tiles per warp, and at least 1024 blocks in all when there
   * are tiles enough.
   */
  void mergeFirstKernel(Buf w, Buf blocks, Buf blocksAct, Buf out, int outF, int inF, int r) {
    int warps = mergeMmaWarps(r);
    long tiles = inF / 16;
    int bands = outF / r;
    long fewest = (tiles + 4L * warps - 1) / (4L * warps);
    long most = (tiles + warps - 1) / warps;
    long gridX = Math.min(most, Math.max(fewest, (1024 + bands - 1) / bands));
    launch2("bat_merge_mma_" + r, gridX, bands, 32 * warps,
        a -> a.ptr(w).ptr(blocks).ptr(blocksAct).ptr(out).i32(inF));
  }

  /** Warps per block of bat_merge_mma_R (kernels.cu: 2 at R 128, for shared memory; else 4). */
  static int mergeMmaWarps(int r) {
    return r == 128 ? 2 : 4;
  }

  /**
   * out = w + blocks (a kernel), then out += W_{a,b}·B_a for every b: the band of r rows a, (r, I)
   * row-major, read as (I, r) with leading dimension r, has rows W_{a,b}[p, :] in order (p, b), so
   * that is one GEMM of the view by B_a, batched over a.
   */
  void mergeTwoPasses(Buf w, Buf blocks, Buf blocksAct, Buf out, int outF, int inF, int r) {
    if ((long) outF * inF >= Integer.MAX_VALUE) {
      throw new IllegalArgumentException("bat_merge_init: weight too large for 32-bit indices");
    }
    // y over rows, x over a row's columns, 4 per thread
    launch2("bat_merge_init_" + suffix(w.type()), Math.min(64, (inF + 4L * BLOCK - 1) / (4L * BLOCK)),
        Math.min(outF, 65535), BLOCK, a -> a.ptr(w).ptr(blocks).ptr(out).i32(outF).i32(inF).i32(r));
    gemmBatched(false, false, inF, r, r, 1f, w, r, (long) r * inF, blocksAct, r, (long) r * r, 1f, out, r,
        (long) r * inF, outF / r);
  }

  @Override
  public synchronized void batBlockGrad(Buf w, Buf m, Buf dBlocks, int outF, int inF, int r) {
    bind();
    long onePassMax = blockGradDefault && r == 128 ? 1 << 21 : blockGradMax;
    if ((long) outF * inF <= onePassMax && major >= 8 && w.type() == DType.BF16 && m.type() == DType.BF16
        && (r == 32 || r == 64 || r == 128) && outF % r == 0 && inF % r == 0 && outF / r <= 65535
        && w.pointer() % 16 == 0 && m.pointer() % 16 == 0) {
      blockGradOnePass(w, m, dBlocks, outF, inF, r, blockGradBlocks);
    } else {
      blockGradTwoPasses(w, m, dBlocks, outF, inF, r);
    }
  }

  /**
   * kernels.cu's bat_block_grad_R: blocks y over the bands, x over splits of a band's tiles of 16
   * view rows (at least 8 tiles each, about {@code blocks} blocks in all), their partial sums added
   * in order by bat_block_grad_reduce.
   */
  void blockGradOnePass(Buf w, Buf m, Buf dBlocks, int outF, int inF, int r, int blocks) {
    int bands = outF / r;
    int tiles = inF / 16;
    int splits = Math.max(1, Math.min((blocks + bands - 1) / bands, tiles / 8));
    int perSplit = (tiles + splits - 1) / splits;
    int used = (tiles + perSplit - 1) / perSplit;
    long n = (long) outF * r;
    int s = onSide ? 1 : 0;
    if (blockGradParts[s] == null || blockGradParts[s].size() < used * n) {
      if (blockGradParts[s] != null) {
        free(blockGradParts[s]);
      }
      blockGradParts[s] = alloc(DType.F32, Math.max(used * n, 1L << 22));
    }
    Buf parts = blockGradParts[s];
    launch2("bat_block_grad_" + r, used, bands, 2 * r, a -> a.ptr(w).ptr(m).ptr(parts).i32(inF).i32(perSplit));
    launchGrid("bat_block_grad_reduce", n, a -> a.ptr(parts).ptr(dBlocks).i32((int) n).i32(used));
  }

  /**
   * The W term as one GEMM batched over the bands (band a of W and of M, (r, I) row-major, read as
   * (I, r): rows W_{a,b}[p, :] in order (p, b), so Σ_b W_{a,b}ᵀ M_{a,b} = band_a(W)ᵀ band_a(M)),
   * then the identity term Σ_b M_{a,b} by a kernel.
   */
  void blockGradTwoPasses(Buf w, Buf m, Buf dBlocks, int outF, int inF, int r) {
    gemmBatched(true, false, r, r, inF, 1f, w, r, (long) r * inF, m, r, (long) r * inF, 1f, dBlocks, r,
        (long) r * r, outF / r);
    if (m.type() == DType.BF16 && r >= 8 && 256 % r == 0 && inF % 8 == 0 && m.pointer() % 16 == 0) {
      // a warp per row, 8 rows per block
      launch("bat_identity_grad_v_b", (outF + 7) / 8, BLOCK, a -> a.ptr(m).ptr(dBlocks).i32(outF).i32(inF).i32(r));
      return;
    }
    launchGrid("bat_identity_grad_" + suffix(m.type()), (long) outF * r,
        a -> a.ptr(m).ptr(dBlocks).i32(outF).i32(inF).i32(r));
  }

  @Override
  public synchronized void addBias(Buf y, Buf bias, int rows, int cols) {
    bind();
    launchGrid("add_bias_" + suffix(y.type()), (long) rows * cols, a -> a.ptr(y).ptr(bias).i32(rows).i32(cols));
  }

  @Override
  public synchronized double sumOfSquares(Buf x) {
    bind();
    launch("sum_squares", PARTIALS, BLOCK, a -> a.ptr(x).i64(x.size()).ptr(partials));
    double sum = 0;
    for (float p : download(partials)) {
      sum += p;
    }
    return sum;
  }

  @Override
  public synchronized void adamw(Buf p, Buf g, Buf m, Buf v, float lr, float beta1, float beta2, float eps, float wd,
      float bias1, float sqrtBias2, float gradScale) {
    bind();
    launchGrid("adamw", p.size(), a -> a.ptr(p).ptr(g).ptr(m).ptr(v).i64(p.size()).f32(lr).f32(beta1).f32(beta2)
        .f32(eps).f32(wd).f32(bias1).f32(sqrtBias2).f32(gradScale));
  }

  @Override
  public synchronized void sgd(Buf p, Buf g, float lr, float wd, float gradScale) {
    bind();
    launchGrid("sgd", p.size(), a -> a.ptr(p).ptr(g).i64(p.size()).f32(lr).f32(wd).f32(gradScale));
  }

  @Override
  public synchronized void randomNormal(Buf out, float std, long seed) {
    bind();
    launchGrid("random_normal_" + suffix(out.type()), out.size(),
        a -> a.ptr(out).i64(out.size()).i64(out.offset()).f32(std).i64(seed));
  }

  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    bind();
    cudaDeviceSynchronize();
    for (Long address : allocations.keySet()) {
      cudaFree(new Address(address));
    }
    allocations.clear();
    allocated = 0;
    for (CUevent_st e : events) {
      cudaEventDestroy(e);
    }
    events.clear();
    cublasDestroy_v2(mainBlas);
    if (sideStream != null) {
      cublasDestroy_v2(sideBlas);
      cudaStreamDestroy(sideStream);
    }
    if (mainStream != null) {
      cudaStreamDestroy(mainStream);
    }
    closed = true;
  }
}
