"""The attention half of the peer: PyTorch's fused causal attention (scaled_dot_product_attention)
in bf16 at a bench shape, forward and backward, on each SDPA backend this torch has: FlashAttention,
cuDNN's fused attention and the memory-efficient kernel. What bonestream's tensor-core kernels
(`bonestream kernels --attention`, same shape, same FLOP convention) are measured against, and the
figure that says whether binding cuDNN's fused attention would be faster than them.

K and V are expanded to the query heads first (transformers' repeat_kv, as the Llama model does),
outside the timed region. FLOP/s count the causal half: forward 4·B·H·T²·hd / 2, backward 2.5× that.

usage: bench_sdpa.py [--batch N] [--seq N] [--reps N] config ...   (configs: tinyllama-1.1B llama3-8B)
Prints one JSON line per backend."""
import argparse, json, math, sys, time
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
import torch.nn.functional as F

# heads, kv heads, head dimension, default batch and sequence length (bench_peft_gpu.py's shapes)
SHAPES = {"tinyllama-1.1B": (32, 4, 64, 8, 1024), "llama3-8B": (32, 8, 128, 4, 1024)}
BACKENDS = [("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION),
            ("efficient", SDPBackend.EFFICIENT_ATTENTION)]


def timed(fn, reps):
    fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / reps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int)
    ap.add_argument("--seq", type=int)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("configs", nargs="+")
    a = ap.parse_args()
    for name in a.configs:
        if name not in SHAPES:
            sys.exit(f"error: unknown config {name} (known: {', '.join(SHAPES)})")
        heads, kv, hd, batch, seq = SHAPES[name]
        batch, seq = a.batch or batch, a.seq or seq
        g = torch.Generator(device="cuda").manual_seed(0)
        def rnd(h):
            return torch.randn(batch, h, seq, hd, device="cuda", dtype=torch.bfloat16, generator=g)
        q = rnd(heads).requires_grad_()
        k = rnd(kv).repeat_interleave(heads // kv, dim=1).requires_grad_()
        v = rnd(kv).repeat_interleave(heads // kv, dim=1).requires_grad_()
        d_out = rnd(heads)
        flops = 4.0 * batch * heads * seq * seq * hd / 2
        for label, backend in BACKENDS:
            row = dict(kind="sdpa", config=name, backend=label, batch=batch, seq=seq, heads=heads, kv_heads=kv, hd=hd,
                       torch=torch.__version__, cudnn=torch.backends.cudnn.version())
            try:
                with sdpa_kernel([backend]):
                    def fwd():
                        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
                    out = fwd()
                    def bwd():
                        q.grad = k.grad = v.grad = None
                        torch.autograd.grad(out, (q, k, v), d_out, retain_graph=True)
                    f = timed(fwd, a.reps)
                    b = timed(bwd, a.reps)
                row.update(fwd_ms=f * 1e3, bwd_ms=b * 1e3, fwd_tflops=flops / f / 1e12, bwd_tflops=2.5 * flops / b / 1e12)
                print(f"sdpa {name} {batch}x{seq} {label:9s} forward {f * 1e3:9.3f} ms {flops / f / 1e12:6.1f} TFLOP/s, "
                      f"backward {b * 1e3:9.3f} ms {2.5 * flops / b / 1e12:6.1f} TFLOP/s", file=sys.stderr)
            except RuntimeError as e:  # a backend that does not take this shape or GPU
                row.update(error=str(e).splitlines()[0][:200])
            print(json.dumps(row), flush=True)
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
