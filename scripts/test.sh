#!/usr/bin/env bash
# Runs every test: unit (ops vs formulas, parsers), parity (model vs HF fixtures), CLI end to end
# (bad inputs included), then the parser fuzzers briefly. Run scripts/setup.sh once first.
# JAMBA_FUZZ_SECONDS sets the time per fuzzer (default 20; 0 skips fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."

[ -f build/build.ninja ] || cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"
ctest --test-dir build --output-on-failure -j "$(nproc)"

fuzz_seconds=${JAMBA_FUZZ_SECONDS:-20}
if [ "$fuzz_seconds" -gt 0 ]; then
  scripts/fuzz.sh "$fuzz_seconds"
fi
echo "test: all passed"
