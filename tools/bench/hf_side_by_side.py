#!/usr/bin/env python3
"""HF transformers' JambaForCausalLM on the GPU, for the side-by-side with `jamba bench --device cuda`.

Builds the model of a config.json with random weights (speed does not depend on the values) in
bf16 on the GPU and measures what jamba bench measures: prefill tok/s (one sequence of P random
tokens, one forward) and batch-1 decode tok/s (greedy steps with HF's own hybrid cache after a
prompt of C tokens). Prints one JSON line. Needs torch + transformers (5.17 here); HF without the
mamba_ssm / causal_conv1d packages runs its slow, sequential Mamba path, which is what users
without those kernels get.

  python3 tools/bench/hf_side_by_side.py bench/configs/dense-3b.json --prompt 2048 --context 1024 --gen 32
"""
import argparse
import json
import time

import torch
import transformers


def timed(fn, reps):
    """Best wall time of `reps` calls of fn (after one warm-up call), with the GPU synchronised."""
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("--prompt", type=int, nargs="+", default=[2048], help="prefill lengths")
    ap.add_argument("--context", type=int, default=1024, help="prompt length before the timed decode steps")
    ap.add_argument("--gen", type=int, default=32, help="decode steps timed")
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()

    with open(args.config) as f:
        cfg = json.load(f)
    cfg.pop("dtype", None)
    cfg.pop("torch_dtype", None)
    config = transformers.JambaConfig(**cfg)
    config.use_mamba_kernels = False  # not installed here; say so rather than fail
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = transformers.JambaForCausalLM(config).to(torch.bfloat16).eval()
    V = config.vocab_size
    out = {"transformers": transformers.__version__, "torch": torch.__version__,
           "device": torch.cuda.get_device_name(0), "dtype": "bfloat16", "prefill": [], "decode": []}

    with torch.inference_mode():
        for P in args.prompt:
            ids = torch.randint(0, V, (1, P), device="cuda")
            s = timed(lambda: model(ids, use_cache=False, logits_to_keep=1), args.reps)
            out["prefill"].append({"tokens": P, "seconds": s, "tok_per_s": P / s})

        ids = torch.randint(0, V, (1, args.context), device="cuda")

        # generate() builds HF's hybrid cache itself; decode time = (1 + gen tokens) - (1 token).
        def gen(n):
            return lambda: model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                          pad_token_id=0, eos_token_id=None)

        one = timed(gen(1), args.reps)
        many = timed(gen(1 + args.gen), args.reps)
        s = many - one
        out["decode"].append({"batch": 1, "context": args.context, "tokens": args.gen, "seconds": s,
                              "tok_per_s": args.gen / s})
    out["peak_memory_bytes"] = torch.cuda.max_memory_allocated()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
