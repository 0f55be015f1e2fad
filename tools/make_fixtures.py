#!/usr/bin/env python3
"""Make the HF parity fixtures under tests/fixtures/ for jamba.cpp.

For each tiny Jamba configuration in FIXTURES this script
  1. builds `transformers.JambaForCausalLM` and overwrites every parameter with
     distinct random values (HF's init leaves many of them trivial: norms at 1,
     A_log = log(1..N), D = 1, ...);
  2. rescales the output head so the logits have a standard deviation of about 3;
  3. saves the checkpoint with `save_pretrained` in the fixture's storage dtype
     (bf16, fp16 or fp32), sharded where asked, and checks the saved files;
  4. reloads that checkpoint, converts it to float64 and writes `reference.json`:
     full-vocabulary log-probabilities at every position of three token sequences,
     plus 8 greedy tokens with their top-2 log-probability margins.

Where it must run: a machine with torch and transformers 5.17 (the GPU machine;
the forwards themselves run on its CPU). Run it from the repository root:

    python3 tools/make_fixtures.py --out tests/fixtures

Why it works the way it does (see the HF Jamba reference notes, "known gotchas"):
  * float64 compute, from weights already rounded to the storage dtype, so the
    fixtures measure our engine's error rather than HF's. HF's "float64" still
    runs RMSNorm and softmax in fp32 (G4): expect ~5e-7 relative, not 1e-15.
  * eager experts: the default grouped_mm rejects float64 (G3), and eager also
    fixes the MoE accumulation order (G7). Eager attention, for the same reason.
  * full forwards only: HF's multi-token continuation with a cache restarts the
    SSM scan from zero (G1), so every greedy step re-runs the whole sequence.
"""

import argparse
import importlib.util
import inspect
import json
import math
import shutil
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers
from safetensors import safe_open
from transformers import JambaConfig, JambaForCausalLM

CASE_LENGTHS = (1, 9, 45)  # the greedy prompt is the last (longest) case
GREEDY_STEPS = 8
TARGET_LOGIT_STD = 3.0
COMPUTE_DTYPE = torch.float64

COMMON_CONFIG = dict(
    use_mamba_kernels=False,
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
    max_position_embeddings=1024,
)


@dataclass(frozen=True)
class Fixture:
    name: str
    seed: int
    storage_dtype: torch.dtype
    config: dict
    max_shard_size: str | None = None  # None: one model.safetensors
    generation_eos: list[int] | None = None  # eos_token_id for generation_config.json


FIXTURES = [
    # GQA, two attention layers, MoE top-2 on odd layers, dt_rank "auto".
    Fixture(
        "gqa_moe_bf16", seed=101, storage_dtype=torch.bfloat16, generation_eos=[2, 5],
        config=dict(
            vocab_size=128, hidden_size=64, num_hidden_layers=8,
            num_attention_heads=8, num_key_value_heads=2,
            attn_layer_period=4, attn_layer_offset=1,
            expert_layer_period=2, expert_layer_offset=1,
            num_experts=4, num_experts_per_tok=2, intermediate_size=48,
            mamba_d_state=8, mamba_d_conv=4, mamba_expand=2, mamba_dt_rank="auto",
            mamba_conv_bias=True, mamba_proj_bias=False,
            tie_word_embeddings=False, rms_norm_eps=1e-6,
        ),
    ),
    # MQA, MoE top-3 on Mamba layers 0 and 3, K=3, expand 3, in/out_proj biases,
    # no conv bias, tied embeddings, eps 1e-5.
    Fixture(
        "mqa_tied_bias_f16", seed=202, storage_dtype=torch.float16,
        config=dict(
            vocab_size=100, hidden_size=48, num_hidden_layers=6,
            num_attention_heads=6, num_key_value_heads=1,
            attn_layer_period=3, attn_layer_offset=2,
            expert_layer_period=3, expert_layer_offset=0,
            num_experts=5, num_experts_per_tok=3, intermediate_size=40,
            mamba_d_state=6, mamba_d_conv=3, mamba_expand=3, mamba_dt_rank=5,
            mamba_conv_bias=False, mamba_proj_bias=True,
            tie_word_embeddings=True, rms_norm_eps=1e-5,
        ),
    ),
    # No attention layer at all (offset 7 never reached with 4 layers); num_experts=1
    # makes every FFN a dense SwiGLU even though the expert period matches every layer.
    Fixture(
        "mamba_only_dense_f32", seed=303, storage_dtype=torch.float32,
        config=dict(
            vocab_size=96, hidden_size=32, num_hidden_layers=4,
            num_attention_heads=4, num_key_value_heads=2,
            attn_layer_period=8, attn_layer_offset=7,
            expert_layer_period=1, expert_layer_offset=0,
            num_experts=1, num_experts_per_tok=1, intermediate_size=64,
            mamba_d_state=16, mamba_d_conv=2, mamba_expand=2, mamba_dt_rank=3,
        ),
    ),
    # Every layer attention (plain MHA) and every layer MoE top-1; sharded.
    Fixture(
        "attention_only_moe_sharded_f32", seed=404, storage_dtype=torch.float32,
        max_shard_size="50KB",
        config=dict(
            vocab_size=96, hidden_size=32, num_hidden_layers=3,
            num_attention_heads=4, num_key_value_heads=4,
            attn_layer_period=1, attn_layer_offset=0,
            expert_layer_period=1, expert_layer_offset=0,
            num_experts=3, num_experts_per_tok=1, intermediate_size=32,
        ),
    ),
    # Jamba-v0.1 layout scaled down: attention at layer 4, MoE on odd layers; sharded.
    Fixture(
        "jamba_layout_bf16_sharded", seed=505, storage_dtype=torch.bfloat16,
        max_shard_size="400KB",
        config=dict(
            vocab_size=128, hidden_size=64, num_hidden_layers=8,
            num_attention_heads=4, num_key_value_heads=2,
            attn_layer_period=8, attn_layer_offset=4,
            expert_layer_period=2, expert_layer_offset=1,
            num_experts=6, num_experts_per_tok=2, intermediate_size=96,
            mamba_d_state=16, mamba_d_conv=4, mamba_expand=2, mamba_dt_rank="auto",
            mamba_conv_bias=True, mamba_proj_bias=False,
        ),
    ),
]


def build_config(fx: Fixture) -> JambaConfig:
    kwargs = {**COMMON_CONFIG, **fx.config}
    declared = inspect.signature(JambaConfig).parameters
    undeclared = [k for k in kwargs if k not in declared]
    if undeclared:
        print(f"  note: not declared in JambaConfig's signature: {undeclared}")
    config = JambaConfig(**kwargs)
    for key, value in kwargs.items():
        if key == "mamba_dt_rank" and value == "auto":
            value = math.ceil(config.hidden_size / 16)
        if getattr(config, key, None) != value:
            raise ValueError(f"config.{key} is {getattr(config, key, None)!r}, asked for {value!r}")
    return config


def expected_layout(config: JambaConfig) -> list[tuple[bool, bool]]:
    """(is_attention, is_moe) for each layer, by the rule in hf_jamba.md section 1."""
    return [
        (i % config.attn_layer_period == config.attn_layer_offset,
         config.num_experts > 1 and i % config.expert_layer_period == config.expert_layer_offset)
        for i in range(config.num_hidden_layers)
    ]


def check_layout(model: JambaForCausalLM, config: JambaConfig) -> str:
    for i, (layer, (attn, moe)) in enumerate(zip(model.model.layers, expected_layout(config))):
        names = [n for n, _ in layer.named_parameters()]
        has_attn = any("q_proj" in n for n in names)
        has_mamba = any("A_log" in n for n in names)
        has_moe = any("experts" in n for n in names)
        if (has_attn, has_mamba, has_moe) != (attn, not attn, moe):
            raise AssertionError(f"layer {i}: HF built attn={has_attn} mamba={has_mamba} moe={has_moe}, "
                                 f"expected attn={attn} moe={moe}")
    return " ".join(("A" if a else "M") + ("e" if m else "d") for a, m in expected_layout(config))


@torch.no_grad()
def randomize_(model: JambaForCausalLM, config: JambaConfig, gen: torch.Generator) -> None:
    """Give every parameter distinct random values of a sensible scale."""
    H, I, K = config.hidden_size, config.intermediate_size, config.mamba_d_conv

    def normal(shape, std):
        return torch.randn(shape, generator=gen, dtype=torch.float64) * std

    def uniform(shape, lo, hi):
        return lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=torch.float64)

    for name, p in model.named_parameters():  # a tied lm_head is listed once, as the embedding
        shape = p.shape
        if name.endswith("layernorm.weight"):  # input/pre_ff/final and mamba dt/b/c norms
            value = 1 + normal(shape, 0.3)
        elif name.endswith("mamba.A_log"):
            value = uniform(shape, 1, 16).log()
        elif name.endswith("mamba.D"):
            value = uniform(shape, 0.5, 2)
        elif name.endswith("dt_proj.bias"):  # inverse softplus of dt ~ logU(1e-3, 1e-1)
            dt = uniform(shape, math.log(1e-3), math.log(1e-1)).exp()
            value = torch.log(torch.expm1(dt)) + normal(shape, 0.1)
        elif name.endswith("conv1d.weight"):
            value = normal(shape, 1 / math.sqrt(K))
        elif name.endswith(("conv1d.bias", "in_proj.bias", "out_proj.bias")):
            value = normal(shape, 0.2)
        elif name.endswith("embed_tokens.weight"):
            value = normal(shape, 1.0)
        elif name.endswith("router.weight"):  # large so that routing is decisive
            value = normal(shape, 3 / math.sqrt(H))
        elif name.endswith("experts.gate_up_proj"):  # fused in memory: [E, 2I, H]
            value = normal(shape, 1 / math.sqrt(H))
        elif name.endswith("experts.down_proj"):  # fused in memory: [E, H, I]
            value = normal(shape, 1 / math.sqrt(I))
        elif name.endswith(".weight") and p.dim() == 2:  # every other Linear: [out, in]
            value = normal(shape, 1 / math.sqrt(shape[1]))
        else:
            raise ValueError(f"no randomization rule for parameter {name} {tuple(shape)}")
        p.copy_(value)


@torch.no_grad()
def calibrate_head_(model: JambaForCausalLM, config: JambaConfig, gen: torch.Generator) -> None:
    """Scale lm_head (the embedding, when tied) so the logits' std is about TARGET_LOGIT_STD.

    Untied, the first pass is exact; tied, the embedding also feeds the residual stream,
    so a few passes are needed.
    """
    tokens = torch.randint(config.vocab_size, (1, 32), generator=gen)
    for _ in range(4):
        std = model(tokens, use_cache=False).logits.std(dim=-1).mean().item()
        model.lm_head.weight.mul_(TARGET_LOGIT_STD / std)


def expected_tensor_names(config: JambaConfig) -> set[str]:
    """On-disk names per hf_jamba.md section 4."""
    names = {"model.embed_tokens.weight", "model.final_layernorm.weight"}
    if not config.tie_word_embeddings:
        names.add("lm_head.weight")
    for i, (attn, moe) in enumerate(expected_layout(config)):
        p = f"model.layers.{i}."
        names |= {p + "input_layernorm.weight", p + "pre_ff_layernorm.weight"}
        if attn:
            names |= {p + f"self_attn.{x}_proj.weight" for x in "qkvo"}
        else:
            m = p + "mamba."
            names |= {m + x for x in ("in_proj.weight", "conv1d.weight", "x_proj.weight",
                                      "dt_proj.weight", "dt_proj.bias", "A_log", "D",
                                      "out_proj.weight", "dt_layernorm.weight",
                                      "b_layernorm.weight", "c_layernorm.weight")}
            if config.mamba_conv_bias:
                names.add(m + "conv1d.bias")
            if config.mamba_proj_bias:
                names |= {m + "in_proj.bias", m + "out_proj.bias"}
        f = p + "feed_forward."
        if moe:
            names.add(f + "router.weight")
            names |= {f + f"experts.{e}.{x}_proj.weight"
                      for e in range(config.num_experts) for x in ("gate", "up", "down")}
        else:
            names |= {f + f"{x}_proj.weight" for x in ("gate", "up", "down")}
    return names


def check_saved(fx: Fixture, out_dir: Path, config: JambaConfig) -> list[str]:
    """Check the files save_pretrained wrote; return the safetensors file names."""
    index = out_dir / "model.safetensors.index.json"
    if fx.max_shard_size:
        if not index.exists():
            raise AssertionError("sharded save wrote no model.safetensors.index.json")
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        if len(files) < 2:
            raise AssertionError(f"sharded save wrote only {files}")
    else:
        if index.exists():
            raise AssertionError("unsharded save wrote an index")
        files = ["model.safetensors"]
    names = set()
    for file in files:
        with safe_open(out_dir / file, framework="pt") as f:
            for key in f.keys():
                tensor = f.get_tensor(key)
                if tensor.dtype != fx.storage_dtype:
                    raise AssertionError(f"{key} saved as {tensor.dtype}, not {fx.storage_dtype}")
                names.add(key)
    if ("lm_head.weight" in names) == config.tie_word_embeddings:
        raise AssertionError(f"lm_head.weight present={'lm_head.weight' in names} with "
                             f"tie_word_embeddings={config.tie_word_embeddings}")
    expected = expected_tensor_names(config)
    if names != expected:
        print(f"  NOTE: saved names differ from hf_jamba.md section 4: "
              f"missing {sorted(expected - names)}, extra {sorted(names - expected)}")
    saved_config = json.loads((out_dir / "config.json").read_text())
    if saved_config["eos_token_id"] != 2:
        raise AssertionError(f"config.json eos_token_id is {saved_config['eos_token_id']}")
    if fx.generation_eos:
        generation = json.loads((out_dir / "generation_config.json").read_text())
        if generation["eos_token_id"] != fx.generation_eos:
            raise AssertionError(f"generation_config.json eos_token_id is {generation['eos_token_id']}")
    print(f"  saved {len(names)} tensors in {files}")
    return files


def mamba_path() -> str:
    kernels = [m for m in ("mamba_ssm", "causal_conv1d") if importlib.util.find_spec(m)]
    return "kernels" if kernels else "torch"


@torch.no_grad()
def logprobs(model: JambaForCausalLM, tokens: list[int]) -> torch.Tensor:
    """[T, V] float64 log-softmax of a full forward's logits (no cache)."""
    logits = model(torch.tensor([tokens]), use_cache=False, logits_to_keep=0).logits[0]
    if logits.shape != (len(tokens), model.config.vocab_size) or logits.dtype != COMPUTE_DTYPE:
        raise AssertionError(f"logits {tuple(logits.shape)} {logits.dtype}")
    out = torch.log_softmax(logits, dim=-1)
    if not torch.isfinite(out).all():
        raise AssertionError("non-finite log-probabilities")
    return out


def greedy(model: JambaForCausalLM, prompt: list[int], steps: int) -> dict:
    """Greedy continuation, each step a full forward of prompt + tokens so far."""
    seq, tokens, margins = list(prompt), [], []
    for _ in range(steps):
        last = logprobs(model, seq)[-1]
        top2 = torch.topk(last, 2).values
        tokens.append(int(torch.argmax(last)))
        margins.append(float(top2[0] - top2[1]))
        seq.append(tokens[-1])
    return {"prompt": list(prompt), "tokens": tokens, "margins": margins}


def make_fixture(fx: Fixture, out_root: Path) -> None:
    print(f"== {fx.name}")
    config = build_config(fx)
    torch.manual_seed(fx.seed)
    gen = torch.Generator().manual_seed(fx.seed)

    model = JambaForCausalLM(config).eval()
    model.set_experts_implementation("eager")
    layout = check_layout(model, config)
    if config.tie_word_embeddings and model.lm_head.weight is not model.model.embed_tokens.weight:
        raise AssertionError("tied config but lm_head is not the embedding")
    randomize_(model, config, gen)
    calibrate_head_(model, config, gen)

    out_dir = out_root / fx.name
    if out_dir.exists():
        shutil.rmtree(out_dir)
    model.to(fx.storage_dtype)
    if fx.generation_eos:
        model.generation_config.eos_token_id = fx.generation_eos
    model.save_pretrained(out_dir, **({"max_shard_size": fx.max_shard_size} if fx.max_shard_size else {}))
    check_saved(fx, out_dir, config)

    ref = JambaForCausalLM.from_pretrained(out_dir, dtype=fx.storage_dtype, attn_implementation="eager")
    ref.set_experts_implementation("eager")  # before float64: grouped_mm rejects it (G3)
    saved, loaded = model.state_dict(), ref.state_dict()
    if saved.keys() != loaded.keys() or any(not torch.equal(saved[k], loaded[k]) for k in saved):
        raise AssertionError("reloaded checkpoint differs from the model that was saved")
    ref = ref.to(COMPUTE_DTYPE).eval()
    if ref.config._attn_implementation != "eager":
        raise AssertionError(f"attention implementation is {ref.config._attn_implementation}")

    cases = []
    for n in CASE_LENGTHS:
        tokens = torch.randint(config.vocab_size, (n,), generator=gen).tolist()
        cases.append({"tokens": tokens, "logprobs": logprobs(ref, tokens).tolist()})
    greedy_runs = [greedy(ref, cases[-1]["tokens"], GREEDY_STEPS)]

    reference = {
        "generator": {
            "script": "tools/make_fixtures.py",
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "attn_implementation": "eager",
            "experts_implementation": "eager",
            "mamba_path": mamba_path(),
            "compute_dtype": "float64",
            "storage_dtype": str(fx.storage_dtype).removeprefix("torch."),
            "seed": fx.seed,
        },
        "cases": cases,
        "greedy": greedy_runs,
    }
    (out_dir / "reference.json").write_text(json.dumps(reference, separators=(",", ":")) + "\n")

    top1 = torch.tensor(cases[-1]["logprobs"]).exp().max(dim=-1).values.mean().item()
    print(f"  layout {layout}; mean top-1 probability {top1:.3f}")
    print(f"  greedy {greedy_runs[0]['tokens']} margins {[round(m, 3) for m in greedy_runs[0]['margins']]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures"), help="fixture root directory")
    args = parser.parse_args()
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, mamba path {mamba_path()}")
    failed = []
    for fx in FIXTURES:
        try:
            make_fixture(fx, args.out)
        except Exception:
            traceback.print_exc()
            failed.append(fx.name)
    if failed:
        print(f"FAILED: {failed}")
        return 1
    print(f"made {len(FIXTURES)} fixtures under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
