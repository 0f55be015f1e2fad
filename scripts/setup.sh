#!/usr/bin/env bash
# Installs the Debian packages jamba.cpp needs (apt-get update first), then configures and builds
# Release into build/ (the CLI lands at build/bin/jamba). Safe to run again: installed packages
# are skipped and the build is incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake ninja-build g++ pkg-config      # build
  nlohmann-json3-dev libcli11-dev        # JSON, command line
  libgtest-dev                           # tests
  libpcre2-dev libicu-dev libsentencepiece-dev  # tokenizer: regexes, Unicode, tokenizer.model
  clang libclang-rt-14-dev               # libFuzzer targets (scripts/fuzz.sh)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"
echo "setup: built build/bin/jamba"
