#!/usr/bin/env bash
# Fails when a function in src/ is longer than 60 lines or has a cyclomatic
# complexity over 20 (pmccabe's modified count: a switch counts once), the
# limits the project holds itself to. Prints every offender with its file and
# line. Run by scripts/test.sh; needs pmccabe (scripts/deps.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_CC=${MAX_CC:-20}
MAX_LINES=${MAX_LINES:-60}
# pmccabe columns: modified CC, traditional CC, statements, first line,
# lines, then "file(line): function".
offenders=$(pmccabe $(git ls-files 'src/*.c' 2>/dev/null || find src -name '*.c') |
  awk -v cc="$MAX_CC" -v lines="$MAX_LINES" '$1 > cc || $5 > lines {
    printf "%s: cyclomatic complexity %d, %d lines\n", $6 " " $7, $1, $5 }')
if [ -n "$offenders" ]; then
  echo "functions over ${MAX_LINES} lines or complexity ${MAX_CC}:" >&2
  echo "$offenders" >&2
  exit 1
fi
echo "complexity: every function in src/ is within ${MAX_LINES} lines and complexity ${MAX_CC}"
