package io.bonestream.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.engine.backend.cuda.KernelDeclarations.Arg;
import io.bonestream.engine.backend.cuda.KernelDeclarations.Kernel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The NVRTC architecture check without NVRTC: the kernel list of kernels.cu, the architecture
 * list, the ELF reader (on a shared library of the running JDK) and the verdict on a compilation.
 */
@Timeout(30)
class ArchCheckTest {
  @Test
  void kernelsCuListsEveryKernelOnce() {
    List<String> names = KernelDeclarations.names(KernelDeclarations.kernelsSource());
    // written out, through K, through the TO_HEADS / HEADS macros and the pasting ATTENTION macros
    for (String k : new String[] {"embed_f", "rmsnorm_bwd_b", "to_heads_fb", "from_heads_bb", "bat_merge_pipe_64",
        "bat_block_grad_reduce", "sum_squares", "adamw", "sgd", "attn_fwd_f_32", "attn_bwd_dkv_b_256",
        "attn_tc_fwd_64", "attn_tc_bwd_dq_128", "attn_tc_bwd_dkv_128", "attn_tc2_fwd_128", "attn_tc2_bwd_dq_64"}) {
      assertTrue(names.contains(k), k + " not in " + names);
    }
    assertEquals(Set.copyOf(names).size(), names.size());
    assertTrue(names.size() > 40, names.size() + " kernels");
    assertFalse(names.contains("name"), "a macro's parameter taken for a kernel");
    System.out.println(names.size() + " kernels in kernels.cu");
  }

  @Test
  void kernelsAreFoundInEverySpellingAndNotInComments() {
    String src = String.join("\n",
        "#define GLOBAL extern \"C\" __global__ void",
        "#define TWICE(name, T) GLOBAL name(T* x) { }",
        "#define NOT_A_KERNEL(name) __device__ void name() { }",
        "#define PASTED(t, HD) \\",
        "  GLOBAL first_##t##_##HD(int n) { } \\",
        "  GLOBAL second_##HD(int n) { }",
        "#define FIXED(T) GLOBAL fixed_name(T x) { }",
        "PASTED(b, 64)",
        "extern \"C\" __global__ void plain(float* x) { }",
        "GLOBAL aliased(int n) {",
        "}",
        "TWICE(by_macro_f, float)",
        "NOT_A_KERNEL(helper)",
        "// GLOBAL commented(int n) {}",
        "/* extern \"C\" __global__ void also_commented() {} */",
        "__global__ void not_extern_c() { }");
    assertEquals(List.of("plain", "aliased", "by_macro_f", "first_b_64", "second_64"), KernelDeclarations.names(src));
  }

  @Test
  void kernelsAreReadWithTheirParameterKinds() {
    String src = String.join("\n",
        "#define F float",
        "#define K extern \"C\" __global__ void",
        "#define TYPED(name, T) K name(const T* x, T s, int n) { }",
        "#define PASTED(t, T, HD) \\",
        "  K first_##t##_##HD(const T* q, float* lse, int hkv, \\",
        "      float scale) { f<T, HD>(q); }",
        "K plain(float* x, i64 n, unsigned long long seed, unsigned flag) { }",
        "TYPED(typed_f, F)",
        "PASTED(b, bf16, 64)");
    assertEquals(List.of(
        new Kernel("plain", List.of(Arg.PTR, Arg.I64, Arg.I64, Arg.I32)),
        new Kernel("typed_f", List.of(Arg.PTR, Arg.F32, Arg.I32)),
        new Kernel("first_b_64", List.of(Arg.PTR, Arg.PTR, Arg.I32, Arg.F32))), KernelDeclarations.kernels(src));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> KernelDeclarations.kernels("extern \"C\" __global__ void odd(double x) { }"));
    assertTrue(e.getMessage().contains("odd") && e.getMessage().contains("double x"), e.getMessage());
  }

  @Test
  void archListsParse() {
    assertEquals(List.of("sm_80", "sm_86", "sm_89", "sm_90"), ArchList.parse(ArchList.DEFAULT, () -> null));
    assertEquals(List.of("sm_80", "sm_90a", "sm_100f"), ArchList.parse("sm_80, sm_90a,,sm_100f,sm_80", () -> null));
    assertEquals(List.of("sm_86", "sm_90"), ArchList.parse("sm_86,native", () -> "sm_90"));
    assertEquals(List.of("sm_90"), ArchList.parse("native,sm_90", () -> "sm_90"));
    assertThrows(GpuOptions.UsageException.class, () -> ArchList.parse("sm_86,native", () -> null));
    assertThrows(GpuOptions.UsageException.class, () -> ArchList.parse("compute_80", () -> null));
    assertThrows(GpuOptions.UsageException.class, () -> ArchList.parse("86", () -> null));
    assertThrows(GpuOptions.UsageException.class, () -> ArchList.parse(" , ", () -> null));
  }

  @Test
  void theElfReaderFindsFunctions() throws Exception {
    byte[] so = Files.readAllBytes(Path.of(System.getProperty("java.home"), "lib", "libjava.so"));
    Set<String> f = ElfFunctions.of(so);
    assertTrue(f.contains("JNI_OnLoad"), "JNI_OnLoad not among " + f.size() + " functions");
    assertThrows(IllegalArgumentException.class, () -> ElfFunctions.of("not an elf file at all, not at all".getBytes()));
  }

  @Test
  void aCompilationPassesOnlyWithEveryKernelInItsCubin() throws Exception {
    byte[] so = Files.readAllBytes(Path.of(System.getProperty("java.home"), "lib", "libjava.so"));
    ArchCheck.Outcome ok = ArchCheck.judge(new NvrtcCompiler.Result("sm_86", so, "", null, 0.1), List.of("JNI_OnLoad"));
    assertTrue(ok.ok(), ok.toString());
    ArchCheck.Outcome missing = ArchCheck.judge(new NvrtcCompiler.Result("sm_86", so, "", null, 0.1),
        List.of("JNI_OnLoad", "bat_merge_pipe_64"));
    assertFalse(missing.ok());
    assertEquals(List.of("bat_merge_pipe_64"), missing.missing());
    ArchCheck.Outcome failed = ArchCheck.judge(new NvrtcCompiler.Result("sm_80", null,
        "kernels.cu(420): error: identifier \"__hmma\" is undefined", "nvrtcCompileProgram failed with error 6", 0.1),
        List.of("JNI_OnLoad"));
    assertFalse(failed.ok());
    assertTrue(failed.error().contains("identifier"), failed.error());
  }
}
