#!/usr/bin/env python3
"""Train the demo Jamba (and the same-budget ablations) with HF transformers' JambaForCausalLM.

    train.py check   --tokenizer models/jamba-demo --out DIR
    train.py train   --tokenizer models/jamba-demo --corpus .corpus --variant hybrid --steps S --out DIR
    train.py ppl     --model DIR --text-file F [--text-file G ...]

The model is HF's own JambaForCausalLM, so what is saved is a standard checkpoint that HF loads
as is (save_pretrained writes HF's on-disk names, one tensor per expert). One thing is replaced
while training: each Mamba mixer's forward runs the same equations (hf_jamba.md section 2.4)
with the selective scan done by our Triton kernel (scan_triton.py) instead of HF's per-time-step
Python loop. `check` proves the replacement exact (logits vs HF's own forward in fp32, and the
kernel's values and gradients vs a float64 loop) before any training is trusted.

Variants (same training script, data, steps and schedule; parameter counts matched to ~1%):
  hybrid     the demo: 2 blocks of 8 layers, attention at offset 4 (1:7), MoE every 2nd layer
             (8 experts, top-2), GQA 8q/2kv, d_state 16, d_conv 4, expand 2
  attention  every layer attention (GQA 8q/2kv), wider FFN (328) to match the parameter count
  mamba      every layer Mamba, FFN narrowed (248) to match; FFN widths stay multiples of 8 (grouped_mm needs 16-byte strides)
"""
import argparse
import json
import math
import os
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

SEQ = 512
BASE = dict(
    hidden_size=256, num_hidden_layers=16, num_attention_heads=8, num_key_value_heads=2,
    num_experts=8, num_experts_per_tok=2, expert_layer_period=2, expert_layer_offset=1,
    attn_layer_period=8, attn_layer_offset=4, mamba_d_state=16, mamba_d_conv=4, mamba_expand=2,
    mamba_dt_rank=16, mamba_conv_bias=True, mamba_proj_bias=False, intermediate_size=256,
    rms_norm_eps=1e-6, tie_word_embeddings=False, max_position_embeddings=262144,
    initializer_range=0.02, router_aux_loss_coef=0.001, hidden_act="silu",
    pad_token_id=0, bos_token_id=1, eos_token_id=2, use_mamba_kernels=False,
)
VARIANTS = {
    "hybrid": {},
    "attention": dict(attn_layer_period=1, attn_layer_offset=0, intermediate_size=328),
    # period 17 > 16 layers: no layer index hits the offset, so there is no attention layer
    "mamba": dict(attn_layer_period=17, attn_layer_offset=16, intermediate_size=248),
}


def log(*a):
    print(*a, flush=True)


def make_config(variant, vocab_size):
    from transformers import JambaConfig

    kw = dict(BASE, vocab_size=vocab_size)
    kw.update(VARIANTS[variant])
    return JambaConfig(**kw)


# ------------------------------------------------------------------------------- the mixer
def fast_mixer_forward(self, hidden_states, *args, **kwargs):
    """HF's JambaMambaMixer equations for a cache-less full-sequence forward, scan on Triton."""
    from scan_triton import selective_scan

    if args or any(v is not None for k, v in kwargs.items() if k != "attention_mask"):
        return self._hf_forward(hidden_states, *args, **kwargs)  # cached generation: HF's path
    mask = kwargs.get("attention_mask")
    if mask is not None and not bool((mask == 1).all()):
        return self._hf_forward(hidden_states, *args, **kwargs)  # padding: HF's path
    T = hidden_states.shape[1]
    N = self.A_log.shape[1]
    R = self.dt_proj.weight.shape[1]
    xz = self.in_proj(hidden_states)
    x, z = xz.chunk(2, dim=-1)
    x = self.conv1d(x.transpose(1, 2))[..., :T].transpose(1, 2)
    x = F.silu(x)
    dt, Bm, Cm = torch.split(self.x_proj(x), [R, N, N], dim=-1)
    dt, Bm, Cm = self.dt_layernorm(dt), self.b_layernorm(Bm), self.c_layernorm(Cm)
    delta = F.softplus(self.dt_proj(dt))
    A = -torch.exp(self.A_log.float())
    y = selective_scan(x, delta, A, Bm, Cm)
    y = (y + x.float() * self.D.float()) * F.silu(z.float())
    return self.out_proj(y.to(hidden_states.dtype))


def patch_mixers(model):
    n = 0
    for module in model.modules():
        if type(module).__name__ == "JambaMambaMixer":
            module._hf_forward = module.forward
            module.forward = types.MethodType(fast_mixer_forward, module)
            n += 1
    return n


def mamba_init(model, seed):
    """Mamba's dt initialisation (HF leaves dt_proj at the generic Linear init, bias 0, which
    starts every channel at delta = softplus(0) = 0.69): dt log-uniform in [1e-3, 1e-1]."""
    g = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if type(module).__name__ == "JambaMambaMixer":
            w = module.dt_proj.weight
            R, Di = w.shape[1], w.shape[0]
            with torch.no_grad():
                w.copy_((torch.rand(w.shape, generator=g) * 2 - 1) * R ** -0.5)
                dt = torch.exp(torch.rand(Di, generator=g) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
                module.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def kv_bytes_per_token(cfg, bytes_per_value=2):
    n_attn = sum(1 for i in range(cfg.num_hidden_layers)
                 if i % cfg.attn_layer_period == cfg.attn_layer_offset)
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    return n_attn * 2 * cfg.num_key_value_heads * head_dim * bytes_per_value


# ------------------------------------------------------------------------------- data
def load_stream(corpus, split, tok, bos, eos):
    docs = [json.loads(line)["text"] for line in open(corpus / f"{split}.jsonl", encoding="utf-8")]
    enc = tok.encode_batch(docs, add_special_tokens=False)
    parts = []
    for e in enc:
        parts.append(np.array([bos] + e.ids + [eos], dtype=np.int32))
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    return np.concatenate(parts), nbytes, len(docs)


def heldout_windows(stream):
    """Windows of SEQ+1 tokens overlapping by one, so every token after the first is a target once."""
    starts = list(range(0, len(stream) - 1, SEQ))
    wins = []
    for s in starts:
        w = stream[s:s + SEQ + 1]
        if len(w) >= 2:
            wins.append(w)
    return wins


@torch.no_grad()
def evaluate(model, wins, bos, device, limit=None):
    model.eval()
    nll, count = 0.0, 0
    for w in wins[:limit] if limit else wins:
        ids = torch.tensor(w, device=device, dtype=torch.long)[None]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(ids[:, :-1], use_cache=False).logits.float()
        lp = torch.log_softmax(logits, -1)[0]
        tgt = ids[0, 1:]
        keep = tgt != bos  # the BOS after an EOS is bookkeeping, not text
        nll -= lp.gather(1, tgt[:, None])[:, 0][keep].sum().item()
        count += int(keep.sum().item())
    model.train()
    return nll, count


def unigram_nll(train_stream, wins, vocab, bos):
    counts = np.bincount(train_stream, minlength=vocab).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    nll, count = 0.0, 0
    for w in wins:
        tgt = w[1:]
        tgt = tgt[tgt != bos]
        nll -= logp[tgt].sum()
        count += len(tgt)
    return nll, count


# ------------------------------------------------------------------------------- commands
def cmd_check(args):
    from transformers import JambaForCausalLM
    from scan_triton import check

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {}
    worst, rep = check()
    result["scan_kernel_vs_fp64"] = {"worst_rel_err": worst, "cases": rep}
    log("scan kernel worst rel err", worst)
    torch.manual_seed(0)
    for variant in VARIANTS:
        cfg = make_config(variant, 512)
        model = JambaForCausalLM(cfg).cuda().float().eval()
        mamba_init(model, 0)
        model.cuda()
        ids = torch.randint(3, 512, (2, 67), device="cuda")
        with torch.no_grad():
            ref = model(ids, use_cache=False).logits
            n = patch_mixers(model)
            ours = model(ids, use_cache=False).logits
        err = ((ours - ref).abs().max() / ref.abs().max()).item()
        result[f"logits_{variant}"] = {"patched_mixers": n, "rel_err_vs_hf": err,
                                       "params": count_params(model)}
        log(variant, "mixers", n, "logits rel err vs HF", err, "params", count_params(model))
    # training-step throughput per variant at the real size (one process alone on the GPU)
    for variant in VARIANTS:
        cfg = make_config(variant, 8192)
        model = JambaForCausalLM(cfg)
        mamba_init(model, 0)
        model.cuda().train()
        patch_mixers(model)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
        batch = torch.randint(3, 8192, (args.batch, SEQ + 1), device="cuda")
        for i in range(13):
            if i == 3:
                torch.cuda.synchronize()
                t0 = time.time()
            loss = train_step(model, opt, batch, cfg)
        torch.cuda.synchronize()
        dt = (time.time() - t0) / 10
        result[f"throughput_{variant}"] = {"params": count_params(model), "step_s": dt,
                                           "tokens_per_s": args.batch * SEQ / dt, "loss": loss.item(),
                                           "max_mem_gb": torch.cuda.max_memory_allocated() / 1e9}
        log(variant, result[f"throughput_{variant}"])
        del model, opt
    import inspect
    from transformers.models.jamba import modeling_jamba as mj
    (out / "hf_mixer_source.py").write_text(inspect.getsource(mj.JambaMambaMixer))
    (out / "check.json").write_text(json.dumps(result, indent=1))


PROBE_STEPS = 40


def agree_on_steps(args, sec_per_step, t_start):
    """Runs started together (one process per variant on one GPU) agree on one step count: each
    writes its measured speed, then all take the count the slowest can finish in the budget, so
    every variant gets the same steps, tokens and schedule."""
    sync = Path(args.sync_dir)
    sync.mkdir(parents=True, exist_ok=True)
    (sync / f"{args.variant}.json").write_text(json.dumps(
        {"sec_per_step": sec_per_step, "elapsed": time.time() - t_start}))
    deadline = time.time() + 300
    while len(list(sync.glob("*.json"))) < args.sync_n:
        if time.time() > deadline:
            raise RuntimeError("the other runs never reported their speed")
        time.sleep(0.5)
    time.sleep(1.0)
    rows = [json.loads(f.read_text()) for f in sorted(sync.glob("*.json"))]
    slowest = max(r["sec_per_step"] for r in rows)
    latest = max(r["elapsed"] for r in rows)
    return PROBE_STEPS + int((args.budget - latest) / slowest)


def lr_at(step, steps, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    prog = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))


def cmd_train(args):
    from tokenizers import Tokenizer
    from transformers import JambaForCausalLM

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer.from_file(str(Path(args.tokenizer) / "tokenizer.json"))
    vocab = tok.get_vocab_size()
    bos, eos = 1, 2
    t0 = time.time()
    train_stream, train_bytes, n_train = load_stream(Path(args.corpus), "train", tok, bos, eos)
    held_stream, held_bytes, n_held = load_stream(Path(args.corpus), "heldout", tok, bos, eos)
    wins = heldout_windows(held_stream)
    log(f"tokenized in {time.time() - t0:.1f}s: train {len(train_stream)} tokens ({n_train} docs), "
        f"heldout {len(held_stream)} tokens ({n_held} docs)")

    cfg = make_config(args.variant, vocab)
    model = JambaForCausalLM(cfg)
    mamba_init(model, args.seed)
    model.cuda().train()
    n_mixers = patch_mixers(model)
    params = count_params(model)
    log(f"variant {args.variant}: {params} parameters, {n_mixers} Mamba mixers, "
        f"KV {kv_bytes_per_token(cfg)} bytes/token (bf16)")

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim >= 2 and "A_log" not in name and "embed" not in name else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
    rng = np.random.default_rng(args.seed)
    curve = []
    t_start = time.time()
    tokens_seen = 0
    run_loss, run_n = 0.0, 0
    planned = args.steps
    step = 0
    while step < planned:
        if time.time() - t_start > args.time_limit:
            log(f"time limit reached at step {step} of {planned}")
            break
        if step == PROBE_STEPS and args.sync_dir:
            planned = agree_on_steps(args, (time.time() - t_probe) / (PROBE_STEPS - 5), t_start)
            log(f"planned steps: {planned}")
        if step == 5:
            torch.cuda.synchronize()
            t_probe = time.time()
        lr = lr_at(step, planned, args.lr, args.warmup)
        for gidx in opt.param_groups:
            gidx["lr"] = lr
        starts = rng.integers(0, len(train_stream) - SEQ - 1, size=args.batch)
        batch = torch.from_numpy(np.stack([train_stream[s:s + SEQ + 1] for s in starts])).long().cuda()
        lm_loss = train_step(model, opt, batch, cfg)
        tokens_seen += args.batch * SEQ
        run_loss += lm_loss.item() if step % 10 == 0 else 0.0  # .item() syncs: sample it
        run_n += 1 if step % 10 == 0 else 0
        if (step + 1) % args.log_every == 0:
            row = {"step": step + 1, "tokens": tokens_seen, "lr": lr, "train_loss": run_loss / max(1, run_n),
                   "seconds": time.time() - t_start}
            if (step + 1) % (args.log_every * 4) == 0:
                nll, cnt = evaluate(model, wins, bos, "cuda", limit=48)
                row["heldout_loss_sample"] = nll / cnt
            curve.append(row)
            log(json.dumps(row))
            run_loss, run_n = 0.0, 0
        step += 1
    steps_done = step
    train_seconds = time.time() - t_start
    nll, cnt = evaluate(model, wins, bos, "cuda")
    uni_nll, uni_cnt = unigram_nll(train_stream, wins, vocab, bos)
    result = {
        "variant": args.variant, "parameters": params, "kv_bytes_per_token_bf16": kv_bytes_per_token(cfg),
        "steps": steps_done, "planned_steps": planned, "batch": args.batch, "seq": SEQ, "tokens_seen": tokens_seen,
        "train_seconds": train_seconds, "tokens_per_second": tokens_seen / train_seconds,
        "lr": args.lr, "warmup": args.warmup, "seed": args.seed,
        "train_tokens": int(len(train_stream)), "train_bytes": train_bytes,
        "heldout_tokens_scored": cnt, "heldout_bytes": held_bytes,
        "heldout_ppl": math.exp(nll / cnt), "heldout_bits_per_byte": nll / math.log(2) / held_bytes,
        "unigram_heldout_ppl": math.exp(uni_nll / uni_cnt),
        "gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
    }
    log(json.dumps(result))
    (out / f"curve_{args.variant}.json").write_text(json.dumps(curve))
    (out / f"result_{args.variant}.json").write_text(json.dumps(result, indent=1))
    if args.save:
        model.to(torch.bfloat16)
        model.save_pretrained(args.save, max_shard_size=args.shard)
        # Stored in bf16 (half the bytes), run in fp32: `dtype` is the compute dtype HF's
        # from_pretrained picks by default (dtype="auto"), and fp32 is what jamba.cpp computes in.
        # In bf16, HF's perplexity of the parity texts is 0.3% higher.
        cfg_path = Path(args.save) / "config.json"
        saved = json.loads(cfg_path.read_text())
        saved["dtype"] = "float32"
        cfg_path.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
        log("saved", sorted(os.listdir(args.save)))


def train_step(model, opt, batch, cfg):
    """One AdamW step on a [B, SEQ+1] batch: next-token loss plus HF's router aux loss."""
    with torch.autocast("cuda", dtype=torch.bfloat16):
        outp = model(batch[:, :-1], use_cache=False, output_router_logits=True)
        logits = outp.logits.float()
    lm_loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
    loss = lm_loss + router_aux(model, outp, cfg)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return lm_loss.detach()


def router_aux(model, outp, cfg):
    """HF's load-balancing loss (as JambaForCausalLM adds it when given labels)."""
    from transformers.models.jamba.modeling_jamba import load_balancing_loss_func

    if getattr(outp, "router_logits", None) is None:
        raise RuntimeError("no router logits in the output: the aux loss would be silently off")
    return cfg.router_aux_loss_coef * load_balancing_loss_func(
        outp.router_logits, cfg.num_experts, cfg.num_experts_per_tok, None)


def cmd_ppl(args):
    """HF's reference numbers for the shipped model: the perplexity of each text file as
    `jamba perplexity` defines it (the tokenizer's ids with BOS, one sequence, every token after
    the first scored) in fp32, bf16 and the dtype from_pretrained picks by default; and greedy
    continuations of --prompt texts in fp32 (full forwards, no cache: see hf_jamba.md G1)."""
    from transformers import AutoTokenizer, JambaForCausalLM

    tok = AutoTokenizer.from_pretrained(args.model)
    rows, greedy = [], []
    for dtype in (torch.float32, torch.bfloat16, None):
        kw = {} if dtype is None else {"dtype": dtype}
        model = JambaForCausalLM.from_pretrained(args.model, **kw).cuda().eval()
        label = "default:" + str(model.dtype).replace("torch.", "") if dtype is None else str(dtype).replace("torch.", "")
        for f in args.text_file:
            text = Path(f).read_text(encoding="utf-8")
            ids = tok(text)["input_ids"]
            x = torch.tensor(ids, device="cuda")[None]
            with torch.no_grad():
                logits = model(x, use_cache=False).logits.float()
            lp = torch.log_softmax(logits[0, :-1].double(), -1)
            nll = -lp.gather(1, x[0, 1:, None])[:, 0].sum().item()
            n = len(ids) - 1
            rows.append({"file": Path(f).name, "dtype": label, "tokens": n,
                         "nll_sum": nll, "perplexity": math.exp(nll / n),
                         "bits_per_byte": nll / math.log(2) / len(text.encode("utf-8")),
                         "first_ids": ids[:8]})
            log(json.dumps(rows[-1]))
        if dtype is torch.float32:
            for prompt in args.prompt:
                ids = tok(prompt)["input_ids"]
                out, margins = [], []
                with torch.no_grad():
                    for _ in range(args.greedy_tokens):
                        logits = model(torch.tensor(ids + out, device="cuda")[None], use_cache=False).logits[0, -1]
                        top2 = torch.topk(logits.double(), 2).values
                        out.append(int(logits.argmax()))
                        margins.append((top2[0] - top2[1]).item())
                greedy.append({"prompt": prompt, "prompt_ids": ids, "tokens": out, "margins": margins,
                               "text": tok.decode(out)})
                log(json.dumps(greedy[-1]))
    Path(args.out).write_text(json.dumps({"perplexity": rows, "greedy": greedy}, indent=1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["check", "train", "ppl"])
    ap.add_argument("--tokenizer", default="models/jamba-demo")
    ap.add_argument("--corpus", default=".corpus")
    ap.add_argument("--variant", default="hybrid", choices=sorted(VARIANTS))
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--time-limit", type=float, default=1e9, help="seconds; stop early (recorded)")
    ap.add_argument("--budget", type=float, default=400, help="seconds of training, with --sync-dir")
    ap.add_argument("--sync-dir", default=None, help="agree on steps with --sync-n concurrent runs")
    ap.add_argument("--sync-n", type=int, default=3)
    ap.add_argument("--save", default=None, help="save_pretrained directory (bf16)")
    ap.add_argument("--shard", default="12MB")
    ap.add_argument("--model", default=None)
    ap.add_argument("--text-file", action="append", default=[])
    ap.add_argument("--prompt", action="append", default=[])
    ap.add_argument("--greedy-tokens", type=int, default=24)
    ap.add_argument("--out", default="out")
    args = ap.parse_args()
    {"check": cmd_check, "train": cmd_train, "ppl": cmd_ppl}[args.command](args)


if __name__ == "__main__":
    main()
