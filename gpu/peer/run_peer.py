"""Runs the peer benchmark (bench_peft_gpu.py: transformers + PEFT, SDPA, bf16) for chosen cases,
one JSON line each, with the bf16 GEMM rate measured in the same process.
usage: run_peer.py CONFIG:METHOD[:fp32] ...   e.g. run_peer.py 25M:bone tinyllama-1.1B:bat"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_peft_gpu as b  # noqa: E402

if __name__ == "__main__":
    rate = b.gemm_rate(torch.bfloat16)
    print(json.dumps({"gpu": torch.cuda.get_device_name(), "gemm_tflops": {"bf16": round(rate / 1e12)}}), flush=True)
    for case in sys.argv[1:]:
        parts = case.split(":")
        name, method = parts[0], parts[1]
        dtype = torch.float32 if len(parts) > 2 and parts[2] == "fp32" else torch.bfloat16
        try:
            res = b.run(name, method, dtype)
            res["frac_of_gemm"] = round(res["model_tflops"] * 1e12 / (rate if dtype == torch.bfloat16 else b.gemm_rate(torch.float32)), 3)
            print(json.dumps(res), flush=True)
        except Exception as e:  # report and go on
            print(json.dumps(dict(config=name, method=method, error=repr(e)[:300])), flush=True)
            torch.cuda.empty_cache()
