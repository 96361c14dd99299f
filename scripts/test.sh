#!/usr/bin/env bash
# Builds closehook and runs the whole test suite twice: a normal build (gcc),
# then AddressSanitizer + UndefinedBehaviorSanitizer. Also checks that clang
# compiles the tree warning-free, and runs the libFuzzer targets (tests/fuzz)
# for a bounded time each. Installs what it needs first; safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

jobs=$(nproc 2>/dev/null || echo 2)

echo "== format check (clang-format, .clang-format)"
clang-format --dry-run -Werror $(git ls-files '*.c' '*.h' 2>/dev/null || find src tests -name '*.[ch]')

echo "== complexity check (pmccabe: no function in src/ over 60 lines or complexity 20)"
bash scripts/check-complexity.sh

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
# Criterion runs each test in a forked child, and a sanitizer report there does
# not always fail the test, so the whole output is also searched for reports.
log=build-asan/ctest-asan.log
supp="$(pwd)/tests/lsan.supp"
set +e
(cd build-asan && ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 \
   LSAN_OPTIONS=suppressions="$supp" \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest -V -j"$jobs") >"$log" 2>&1
rc=$?
set -e
grep -E "^(1|[0-9]+)/[0-9]+ Test|tests passed|tests failed" "$log" || true
if [ $rc -ne 0 ]; then
  echo "ASan+UBSan run failed; details in $log" >&2
  grep -B2 -A30 -E "\*\*\*Failed|Timeout|FAIL" "$log" | head -200 >&2
  exit 1
fi
if grep -nE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$log"; then
  echo "sanitizer reports found (above); details in $log" >&2
  exit 1
fi

echo "== fuzz (clang, libFuzzer + ASan + UBSan, ${FUZZ_SECONDS:-45} s per target)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCLOSEHOOK_FUZZ=ON \
  -DFUZZ_SECONDS="${FUZZ_SECONDS:-45}" >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzz_webhook fuzz_close_json fuzz_config
(cd build-fuzz && LSAN_OPTIONS=suppressions="$supp" ctest -L fuzz --output-on-failure)

echo "== all tests passed"
