#!/usr/bin/env bash
# The demo model's whole training run, as it was made (one H100, about 8 minutes):
# the three variants train side by side on one GPU for the same number of steps (they agree on
# it after measuring their speed), the hybrid is saved as models/jamba-demo, then HF's own
# perplexity of the parity texts is computed from the saved checkpoint (fp32 and bf16).
#   tools/demo_model/train_all.sh WORKDIR [BUDGET_SECONDS [STEPS]]
# With STEPS (e.g. 1476, the shipped run's count) the runs skip the speed probe and train exactly
# that many steps, so the shipped weights are reproduced up to GPU nondeterminism.
# Needs: the corpus (.corpus, from prepare_corpus.sh) and the tokenizer files already in
# models/jamba-demo (train_tokenizer.py); torch, triton, transformers 5.17, tokenizers.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$1
budget=${2:-400}
steps=${3:-}
mkdir -p "$work"
export PYTHONUNBUFFERED=1
pids=()
for v in hybrid attention mamba; do
  extra=()
  [ "$v" = hybrid ] && extra=(--save "$work/jamba-demo")
  if [ -n "$steps" ]; then extra+=(--steps "$steps"); else extra+=(--sync-dir "$work/sync"); fi
  python3 "$repo/tools/demo_model/train.py" train --variant "$v" --tokenizer "$repo/models/jamba-demo" \
    --corpus "$repo/.corpus" --budget "$budget" --time-limit $(( ${steps:-0} > 0 ? 100000 : budget + 50 )) \
    --out "$work/results" "${extra[@]}" >"$work/log_$v.txt" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
cp "$repo"/models/jamba-demo/tokenizer* "$work/jamba-demo/"
python3 "$repo/tools/demo_model/train.py" ppl --model "$work/jamba-demo" \
  --text-file "$repo/tests/fixtures/demo/moby_dick_opening.txt" \
  --text-file "$repo/tests/fixtures/demo/sotu_2021_opening.txt" \
  --prompt "It was the best of times" --prompt "The Congress of the United States" \
  --out "$work/results/hf_reference.json" >"$work/log_ppl.txt" 2>&1
