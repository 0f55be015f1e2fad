#!/usr/bin/env bash
# The GPU forward (`--device cuda`) on the GPU machine, from a bundle of a CUDA build made
# elsewhere (tests/cuda/make_device_bundle.sh): the parity tests through the CUDA executor, the
# demo-model tests on the GPU (when models/ is present), and optionally the benchmarks.
#
#   bash tests/cuda/run_forward_on_device.sh BUNDLE.tar.xz [tests] [cli] [bench CONFIG DTYPE...]
#   BENCH_ARGS="--batch 1 --context 1024"  extra options for each bench run
#   PROFILER="..."  a command that wraps each bench run (a profiler, where the machine has one)
#
# Prints a SUMMARY line per part; exit status 0 when every test part passed.
set -u -o pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bundle=$(realpath "$1")
shift
stage=$(mktemp -d)
tar -C "$stage" -xJf "$bundle" || { echo "cannot unpack $bundle"; exit 2; }
src=$(cat "$stage/source_dir.txt")
build=$(cat "$stage/build_dir_name.txt")

# The test binaries carry the source tree's path of the machine that built them: point it here.
if [ "$src" != "$root" ]; then
  mkdir -p "$(dirname "$src")"
  [ -e "$src" ] || ln -s "$root" "$src"
fi
bin="$root/$build/bin"
mkdir -p "$bin"

# cuBLASLt from this machine's CUDA (toolkit or the Python wheels).
cublas=$(find /usr/local/cuda*/ /usr/lib/x86_64-linux-gnu /opt -name 'libcublasLt.so.1[0-9]*' 2>/dev/null | head -1)
libs="$stage/lib${cublas:+:$(dirname "$cublas")}"
# Run on this machine's C library when it is new enough, else on the bundle's (through its loader).
if LD_LIBRARY_PATH="$libs" "$stage/bin/jamba" --help >/dev/null 2>&1; then
  export LD_LIBRARY_PATH="$libs"
  cp "$stage"/bin/* "$bin/"
else
  echo "note: running on the bundle's C library"
  for b in "$stage"/bin/*; do
    name=$(basename "$b")
    cp "$b" "$bin/$name.real"
    printf '#!/bin/sh\nexec %s --library-path %s %s "$@"\n' "$stage/glibc/ld-linux-x86-64.so.2" "$stage/glibc:$libs" \
      "$bin/$name.real" > "$bin/$name"
    chmod +x "$bin/$name"
  done
fi

logs=${OUT:-/tmp}  # full logs of each part (the device tool brings $OUT back)
section() { printf '\n======== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }
status=0
section "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
echo "cuBLASLt: ${cublas:-not found}"
"$bin/jamba" --help >/dev/null && echo "jamba runs"

run_tests() {
  section "parity through the CUDA executor"
  "$bin/test_parity" --gtest_filter='*cuda*' > "$logs/parity.log" 2>&1
  local rc=$?
  grep -E 'max relative|logprob error|Failure|Expected|Which is|FAILED  \]' "$logs/parity.log" | head -80
  echo "SUMMARY parity-cuda rc=$rc $(grep -E '^\[  PASSED|tests, listed' "$logs/parity.log" | tr '\n' ' ')"
  [ "$rc" = 0 ] || status=1
  if [ -f models/jamba-demo/config.json ]; then
    section "demo model on the GPU (CLI)"
    "$bin/test_cli" --gtest_filter='*DemoModelOn*' > "$logs/demo.log" 2>&1
    rc=$?
    tail -30 "$logs/demo.log"
    echo "SUMMARY demo-cli rc=$rc"
    [ "$rc" = 0 ] || status=1
  else
    echo "SUMMARY demo-cli skipped (models/ not here)"
  fi
}

# The CLI end to end: greedy generation on the GPU equals the CPU's on every parity fixture.
run_cli() {
  section "jamba generate --device cuda vs cpu"
  local f want got rc=0
  for f in tests/fixtures/*/reference.json; do
    f=$(dirname "$f")
    want=$("$bin/jamba" generate -m "$f" --tokens 1,2,3,4,5 -n 16 --temperature 0 --ignore-eos --json | grep -o '"tokens":\[[0-9,]*\]')
    got=$("$bin/jamba" generate -m "$f" --device cuda --tokens 1,2,3,4,5 -n 16 --temperature 0 --ignore-eos --json | grep -o '"tokens":\[[0-9,]*\]')
    if [ -n "$want" ] && [ "$want" = "$got" ]; then echo "same  $f $got"; else echo "DIFF  $f cpu $want cuda $got"; rc=1; fi
  done
  echo "SUMMARY cli rc=$rc"
  [ "$rc" = 0 ] || status=1
}

while [ $# -gt 0 ]; do
  case "$1" in
    tests) run_tests; shift ;;
    cli) run_cli; shift ;;
    bench)
      config=$2; shift 2
      while [ $# -gt 0 ] && [ "$1" != tests ] && [ "$1" != cli ] && [ "$1" != bench ]; do
        section "bench $config $1"
        # shellcheck disable=SC2086  # BENCH_ARGS: extra bench options, word-split on purpose
        ${PROFILER:-} "$bin/jamba" bench --device cuda --config "$config" --random-weights --dtype "$1" \
          --prefill-chunk 0 --gen 32 ${BENCH_ARGS:-} 2>&1
        echo "SUMMARY bench $config $1 rc=$?"
        shift
      done ;;
    *) echo "unknown part $1"; exit 2 ;;
  esac
done
exit $status
