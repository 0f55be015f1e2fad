#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang in build-fuzz/ and runs each one for
# SECONDS seconds (default 20) over a scratch copy of its seed corpus (tests/fuzz/corpus/*).
# Exits non-zero if a fuzzer finds a crash, a leak, undefined behaviour, a hang or an
# allocation over the memory limit; the input that did it is kept in build-fuzz/artifacts/.
#
#   scripts/fuzz.sh            # 20 s per target
#   scripts/fuzz.sh 300        # 5 min per target
#   FUZZ_TARGETS=gguf scripts/fuzz.sh 120   # one target
#   reproduce: build-fuzz/bin/fuzz_safetensors build-fuzz/artifacts/safetensors/crash-...
set -euo pipefail

seconds="${1:-20}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-fuzz"
cxx="${CXX_FUZZ:-clang++}"

cmake -S "$root" -B "$build" -G Ninja -DJAMBA_FUZZ=ON -DJAMBA_BUILD_TESTS=OFF \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target fuzz_safetensors fuzz_model_config fuzz_tokenizer fuzz_chat_template fuzz_gguf

scratch="$(mktemp -d "${TMPDIR:-/tmp}/jamba-fuzz.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

# name, seed corpus, dictionary, max input length. Seeds are a few hundred bytes; 4 KiB leaves
# room for many tensors / fields without making each run slow.
targets=(
  "safetensors tests/fuzz/corpus/safetensors tests/fuzz/safetensors.dict 4096"
  "model_config tests/fuzz/corpus/config tests/fuzz/config.dict 4096"
  "tokenizer tests/fuzz/corpus/tokenizer tests/fuzz/tokenizer.dict 4096"
  "chat_template tests/fuzz/corpus/chat_template tests/fuzz/chat_template.dict 4096"
  "gguf tests/fuzz/corpus/gguf tests/fuzz/gguf.dict 4096"
)

status=0
for spec in "${targets[@]}"; do
  read -r name seeds dict max_len <<<"$spec"
  if [[ -n "${FUZZ_TARGETS:-}" && " $FUZZ_TARGETS " != *" $name "* ]]; then continue; fi
  corpus="$scratch/$name"
  artifacts="$build/artifacts/$name"
  mkdir -p "$corpus" "$artifacts"
  cp "$root/$seeds"/* "$corpus/"
  echo "== fuzz_$name: ${seconds}s, max_len $max_len"
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb also caps single allocations.
  if "$build/bin/fuzz_$name" "$corpus" -dict="$root/$dict" -max_total_time="$seconds" \
      -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" >"$scratch/$name.log" 2>&1; then
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)' "$scratch/$name.log" || true
    echo "== fuzz_$name: no findings ($(ls "$corpus" | wc -l) corpus entries)"
  else
    status=1
    tail -n 60 "$scratch/$name.log"
    echo "== fuzz_$name: FINDING; input saved in $artifacts/" >&2
  fi
done
exit "$status"
