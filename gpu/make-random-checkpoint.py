"""Writes a Llama checkpoint of random weights (the right names, shapes and dtype, N(0, 0.02^2),
norms 1) as Hugging Face does: config.json, model-0000i-of-0000n.safetensors shards and
model.safetensors.index.json. Drawn on the GPU when there is one, so that an 8B checkpoint (16 GB in
bf16) is made in about a minute where it is used instead of being uploaded.
usage: make-random-checkpoint.py [--shape llama3-8B|tinyllama-1.1B] [--dtype bfloat16] [--shard-gib 4] OUT_DIR"""
import argparse
import json
import os
import time

import torch
from safetensors.torch import save_file

SHAPES = {
    "llama3-8B": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=8, vocab_size=128256, rope_theta=500000.0, max_position_embeddings=8192),
    "tinyllama-1.1B": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                           num_key_value_heads=4, vocab_size=32000, rope_theta=10000.0, max_position_embeddings=2048),
}


def tensors(c):
    d, f, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    kv = c["num_key_value_heads"] * (d // c["num_attention_heads"])
    yield "model.embed_tokens.weight", (v, d)
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        yield p + "input_layernorm.weight", (d,)
        yield p + "self_attn.q_proj.weight", (d, d)
        yield p + "self_attn.k_proj.weight", (kv, d)
        yield p + "self_attn.v_proj.weight", (kv, d)
        yield p + "self_attn.o_proj.weight", (d, d)
        yield p + "post_attention_layernorm.weight", (d,)
        yield p + "mlp.gate_proj.weight", (f, d)
        yield p + "mlp.up_proj.weight", (f, d)
        yield p + "mlp.down_proj.weight", (d, f)
    yield "model.norm.weight", (d,)
    yield "lm_head.weight", (v, d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--shape", default="llama3-8B", choices=sorted(SHAPES))
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    ap.add_argument("--shard-gib", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    t0 = time.time()
    os.makedirs(a.out, exist_ok=True)
    dtype = getattr(torch, a.dtype)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    gen = torch.Generator(device=device).manual_seed(a.seed)
    c = SHAPES[a.shape]
    config = dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_act="silu", rms_norm_eps=1e-5,
                  tie_word_embeddings=False, attention_bias=False, mlp_bias=False, bos_token_id=1, eos_token_id=2,
                  torch_dtype=a.dtype, **c)
    specs = list(tensors(c))
    limit = a.shard_gib * 2 ** 30
    shards, current, size = [], [], 0
    for name, shape in specs:
        n = 1
        for s in shape:
            n *= s
        b = n * torch.finfo(dtype).bits // 8
        if current and size + b > limit:
            shards.append(current)
            current, size = [], 0
        current.append((name, shape))
        size += b
    shards.append(current)
    weight_map, total = {}, 0
    for i, shard in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        out = {}
        for name, shape in shard:
            if name.endswith("norm.weight"):
                t = torch.ones(shape, dtype=dtype)
            else:
                t = (torch.randn(shape, generator=gen, device=device, dtype=torch.float32) * 0.02).to(dtype).cpu()
            out[name] = t
            weight_map[name] = file
            total += t.numel() * t.element_size()
        save_file(out, os.path.join(a.out, file), metadata={"format": "pt"})
        print(f"{file}: {len(shard)} tensors", flush=True)
    with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    print(json.dumps(dict(shape=a.shape, dtype=a.dtype, bytes=total, shards=len(shards), tensors=len(specs),
                          seconds=round(time.time() - t0, 1), drawn_on=device)), flush=True)


if __name__ == "__main__":
    main()
