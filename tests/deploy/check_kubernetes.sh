#!/usr/bin/env bash
# Runs check_kubernetes.py with Debian's python3, where scripts/deps.sh installs
# python3-yaml (a python3 earlier on PATH, e.g. pyenv's, may not have it).
set -euo pipefail
py=/usr/bin/python3
[ -x "$py" ] && "$py" -c 'import yaml' 2>/dev/null || py=python3
exec "$py" "$(dirname "$0")/check_kubernetes.py" "$@"
