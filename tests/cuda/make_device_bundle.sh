#!/usr/bin/env bash
# Packs what the GPU machine needs to run the full `jamba` and the parity/CLI test binaries of a
# CUDA build made here: that machine has the CUDA driver and toolkit but none of the Debian
# libraries the CLI links (ICU, PCRE2, SentencePiece, OpenMP), so the binaries travel with the
# shared libraries they resolve to here (cuBLASLt excepted: it is taken from that machine's CUDA).
#
#   tests/cuda/make_device_bundle.sh BUILD_DIR OUT.tar.xz
#
# tests/cuda/run_forward_on_device.sh unpacks and runs it there.
set -euo pipefail
build=$(cd "$1" && pwd)
out=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib" "$stage/glibc"
for b in jamba test_parity test_cli; do
  [ -x "$build/bin/$b" ] || { echo "missing $build/bin/$b" >&2; exit 1; }
  strip -o "$stage/bin/$b" "$build/bin/$b"
done
# Every library the binaries resolve here, except CUDA's own; the C library apart (glibc/), used
# only through its own loader where that machine's C library is older.
ldd "$build"/bin/jamba "$build"/bin/test_parity "$build"/bin/test_cli | awk '/=> \//{print $3}' | sort -u |
  grep -v -e libcublas -e libcuda -e libnvidia | while read -r lib; do
    case $(basename "$lib") in
      libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*) cp -L "$lib" "$stage/glibc/" ;;
      *) cp -L "$lib" "$stage/lib/" ;;
    esac
  done
cp -L /lib64/ld-linux-x86-64.so.2 "$stage/glibc/"
# Where the tests expect the source tree (compiled-in fixture and binary paths).
grep '^CMAKE_HOME_DIRECTORY:' "$build/CMakeCache.txt" | cut -d= -f2 > "$stage/source_dir.txt"
basename "$build" > "$stage/build_dir_name.txt"
tar -C "$stage" -cJf "$out" .
ls -la "$out"
