#!/usr/bin/env bash
# Builds closehook and runs the whole test suite twice: a normal build (gcc),
# then AddressSanitizer + UndefinedBehaviorSanitizer. Also checks that clang
# compiles the tree warning-free. Installs what it needs first; safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

jobs=$(nproc 2>/dev/null || echo 2)

echo "== build (gcc) and test"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== build (clang), compile check"
CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-clang -j"$jobs"

echo "== build (gcc, ASan+UBSan) and test"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCLOSEHOOK_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=abort_on_error=0:halt_on_error=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j"$jobs")

echo "== all tests passed"
