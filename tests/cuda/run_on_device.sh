#!/usr/bin/env bash
# Builds and runs the CUDA op tests and the micro-benchmark on a GPU machine that has the CUDA
# toolkit, cmake and ninja (nothing else of the project's dependencies is needed).
#
#   bash tests/cuda/run_on_device.sh            # from the repository root
#   BUILD_DIR=... SKIP_SANITIZER=1 SKIP_BENCH=1  # optional
#
# Order: build (~1-2 min), tests (~1 min), benchmark (~1 min), compute-sanitizer memcheck and
# racecheck on the quick cases (the slowest part; SKIP_SANITIZER=1 leaves it out).
#
# Prints everything needed to diagnose a failure (machine, toolchain, every test case with its
# errors, compute-sanitizer on the quick cases, benchmark numbers) and keeps a copy of the whole
# output in $BUILD_DIR/run_on_device.log. Exit status: 0 when the tests and the sanitizer pass.
set -u -o pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build-cuda}
mkdir -p "$BUILD_DIR"
LOG="$BUILD_DIR/run_on_device.log"
exec > >(tee "$LOG") 2>&1

# nvcc off the PATH but installed in the usual place: use it.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi

section() { printf '\n======== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }
start=$(date +%s)

section "machine"
uname -a
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,compute_cap --format=csv || nvidia-smi || true
command -v nvcc && nvcc --version | tail -2
cmake --version | head -1
ninja --version
g++ --version | head -1 || true
git log -1 --oneline 2>/dev/null || true

section "configure"
cmake -S tests/cuda -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release || { echo "CONFIGURE FAILED"; exit 2; }

section "build"
ninja -C "$BUILD_DIR" -j "$(nproc)" || { echo "BUILD FAILED"; exit 3; }
# Which machine code the binary carries (expect sm_90a ELF + compute_80 PTX).
cuobjdump --list-elf "$BUILD_DIR/test_cuda_ops" 2>/dev/null | sed -n '1,6p' || true
cuobjdump --list-ptx "$BUILD_DIR/test_cuda_ops" 2>/dev/null | sed -n '1,3p' || true

section "tests"
timeout 420 "$BUILD_DIR/test_cuda_ops"
test_rc=$?
[ "$test_rc" = 124 ] && echo "TESTS TIMED OUT (420 s)"

bench_rc=skipped
if [ -z "${SKIP_BENCH:-}" ]; then
  section "benchmark"
  timeout 300 "$BUILD_DIR/cuda_ops_bench"
  bench_rc=$?
fi

# Last, because they are the slowest and optional: memory errors and shared-memory races.
san_rc=skipped
if [ -z "${SKIP_SANITIZER:-}" ] && command -v compute-sanitizer >/dev/null; then
  section "compute-sanitizer memcheck (quick cases)"
  timeout 400 compute-sanitizer --tool memcheck --error-exitcode 9 --print-limit 20 "$BUILD_DIR/test_cuda_ops" --quick \
    > "$BUILD_DIR/memcheck.log" 2>&1
  san_rc=$?
  grep -vE "^PASS " "$BUILD_DIR/memcheck.log" | head -60
  echo "memcheck: rc=$san_rc (full log $BUILD_DIR/memcheck.log)"
  section "compute-sanitizer racecheck (attention, scan, moe_group; quick cases)"
  for f in attention selective_scan moe_group; do
    timeout 200 compute-sanitizer --tool racecheck --error-exitcode 9 --print-limit 10 \
      "$BUILD_DIR/test_cuda_ops" --quick --filter "$f" > "$BUILD_DIR/racecheck_$f.log" 2>&1
    rc=$?
    grep -vE "^PASS " "$BUILD_DIR/racecheck_$f.log" | head -30
    echo "racecheck $f: rc=$rc"
    if [ "$rc" != 0 ]; then san_rc=$rc; fi
  done
fi

section "summary"
echo "tests rc=$test_rc  sanitizer rc=$san_rc  bench rc=$bench_rc  ($(( $(date +%s) - start )) s)"
echo "full log: $LOG"
# On the lent GPU machines, files under $OUT come back to the caller.
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
  cp "$LOG" "$BUILD_DIR"/memcheck.log "$BUILD_DIR"/racecheck_*.log "$OUT"/ 2>/dev/null || true
fi
[ "$test_rc" = 0 ] && { [ "$san_rc" = 0 ] || [ "$san_rc" = skipped ]; }
