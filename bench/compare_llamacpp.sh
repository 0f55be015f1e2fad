#!/usr/bin/env bash
# jamba.cpp and llama.cpp side by side on the very same GGUF file, on this machine, in one run.
#
#   bench/compare_llamacpp.sh LLAMA_BIN_DIR [options]
#     LLAMA_BIN_DIR   a llama.cpp build's bin/ (llama-bench in it), made outside this repo
#                     from a public snapshot; nothing of llama.cpp is part of this project
#     --config F      shape to measure with random weights (default bench/configs/dense-3b.json)
#     --model DIR     or an existing HF model directory instead of random weights
#     --type T        f16 | bf16 | q8_0 | q4_0 (default f16)
#     --threads N     threads for both (default: all cores)
#     --prompt P      prefill length (default 512)     --gen G   decode tokens (default 128)
#     --reps R        llama-bench repetitions (default 3)
#
# Both read one GGUF written by `jamba export-gguf`: llama-bench runs pp P and tg G; `jamba bench`
# runs prefill P and G decode steps from an (almost) empty cache, as tg does. Prints both and
# the ratios, and a JSON line at the end.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
jamba=${JAMBA_BIN:-$repo/build/bin/jamba}
[ $# -ge 1 ] || { sed -n 2,16p "$0"; exit 2; }
llama_bin=$1
shift
config=$repo/bench/configs/dense-3b.json model= type=f16 threads=$(nproc) prompt=512 gen=128 reps=3
while [ $# -gt 0 ]; do
  case $1 in
    --config) config=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --type) type=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --prompt) prompt=$2; shift 2 ;;
    --gen) gen=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    *) echo "compare_llamacpp.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$llama_bin/llama-bench" ] || { echo "compare_llamacpp.sh: no llama-bench in $llama_bin" >&2; exit 2; }
[ -x "$jamba" ] || { echo "compare_llamacpp.sh: build jamba first (scripts/setup.sh)" >&2; exit 2; }
case $type in
  f16|bf16) ;;
  q8_0|q4_0) echo "note: jamba.cpp dequantizes $type GGUF tensors at load today; this compares different weight bits" >&2 ;;
  *) echo "compare_llamacpp.sh: --type must be f16, bf16, q8_0 or q4_0" >&2; exit 2 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/jamba-compare-XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ -z "$model" ]; then
  echo "== random weights of $config" >&2
  "$jamba" random-model --config "$config" -o "$work/hf" --dtype bf16
  model=$work/hf
fi
"$jamba" export-gguf -m "$model" -o "$work/model.gguf" --type "$type" >&2

echo "== llama-bench ($threads threads)" >&2
"$llama_bin/llama-bench" -m "$work/model.gguf" -t "$threads" -p "$prompt" -n "$gen" -r "$reps" -o json >"$work/llama.json"
echo "== jamba bench ($threads threads)" >&2
"$jamba" bench -m "$work/model.gguf" -t "$threads" --prompt "$prompt" --gen "$gen" --context 1 --json >"$work/jamba.json"

python3 - "$work/llama.json" "$work/jamba.json" "$type" "$threads" <<'EOF'
import json, sys
llama = json.load(open(sys.argv[1]))
ours = json.load(open(sys.argv[2]))
pp = next(r for r in llama if r.get("n_prompt", 0) > 0 and r.get("n_gen", 0) == 0)
tg = next(r for r in llama if r.get("n_gen", 0) > 0 and r.get("n_prompt", 0) == 0)
row = {
    "type": sys.argv[3], "threads": int(sys.argv[4]),
    "llama_build": pp.get("build_commit"), "cpu": pp.get("cpu_info"),
    "llama_pp_tok_per_s": pp["avg_ts"], "llama_tg_tok_per_s": tg["avg_ts"],
    "jamba_prefill_tok_per_s": ours["prefill_tok_per_s"], "jamba_decode_tok_per_s": ours["decode_tok_per_s"],
    "jamba_decode_fraction_of_floor": ours["decode_fraction_of_floor"],
    "bandwidth_gb_per_s": ours["bandwidth_gb_per_s"],
}
row["prefill_ratio"] = row["jamba_prefill_tok_per_s"] / row["llama_pp_tok_per_s"]
row["decode_ratio"] = row["jamba_decode_tok_per_s"] / row["llama_tg_tok_per_s"]
print(f"{'':24}{'llama.cpp':>12}{'jamba.cpp':>12}{'ratio':>8}")
print(f"{'prefill (tok/s)':24}{row['llama_pp_tok_per_s']:12.1f}{row['jamba_prefill_tok_per_s']:12.1f}{row['prefill_ratio']:8.2f}")
print(f"{'decode (tok/s)':24}{row['llama_tg_tok_per_s']:12.2f}{row['jamba_decode_tok_per_s']:12.2f}{row['decode_ratio']:8.2f}")
print(f"jamba.cpp decode = {100 * row['jamba_decode_fraction_of_floor']:.0f}% of its bandwidth floor "
      f"({row['bandwidth_gb_per_s']:.1f} GB/s measured)")
print(json.dumps(row))
EOF
