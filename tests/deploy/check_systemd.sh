#!/usr/bin/env bash
# Checks deploy/closehook.service the way systemd would read it, without installing
# it: `systemd-analyze verify` on a copy whose ExecStart points at the built binary
# (verify refuses a unit whose binary is missing), then `systemd-analyze security`
# so the hardening cannot erode unnoticed, then that every directive is explained.
#   check_systemd.sh UNIT_FILE CLOSEHOOK_BINARY
set -euo pipefail
unit=$1
binary=$(readlink -f "$2")

# systemd-analyze rates a unit from 0 (locked down) to 10 (unprotected), and takes
# --threshold in tenths of that scale. The unit scores 1.2 today ("OK"); above 2.0
# means a protection was dropped.
MAX_EXPOSURE_TENTHS=20

fail() { echo "check_systemd: $*" >&2; exit 1; }

command -v systemd-analyze >/dev/null || fail "systemd-analyze not found (scripts/deps.sh installs systemd)"
[ -x "$binary" ] || fail "no closehook binary at $binary"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
copy="$tmp/closehook.service"
sed "s|/usr/local/bin/closehook|$binary|g" "$unit" >"$copy"

# verify exits 0 on unknown keys and unparsable values ("..., ignoring"), so any line
# it prints about our unit is an error. Lines about other units (a host's own
# broken units) are not ours to judge.
out=$(systemd-analyze verify --man=no "$copy" 2>&1) || fail "systemd-analyze verify failed:"$'\n'"$out"
ours=$(printf '%s\n' "$out" | grep -F "closehook.service" || true)
[ -z "$ours" ] || fail "systemd-analyze verify complains:"$'\n'"$ours"

if ! sec=$(systemd-analyze security --offline=true --threshold="$MAX_EXPOSURE_TENTHS" "$copy" 2>&1); then
  printf '%s\n' "$sec" | grep -E "✗|Overall" >&2 || printf '%s\n' "$sec" >&2
  fail "exposure above $MAX_EXPOSURE_TENTHS/10 (a hardening directive was removed or weakened)"
fi
printf '%s\n' "$sec" | grep "Overall exposure"

# The promises README.md and the issue make about the unit, line by line.
required=(
  '^DynamicUser=yes$' '^StateDirectory=closehook$' '^ProtectSystem=strict$'
  '^ProtectHome=yes$' '^PrivateTmp=yes$' '^PrivateDevices=yes$' '^NoNewPrivileges=yes$'
  '^RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX$' '^SystemCallFilter=@system-service$'
  '^CapabilityBoundingSet=$' '^LockPersonality=yes$' '^MemoryDenyWriteExecute=yes$'
  '^ProtectKernelTunables=yes$' '^ProtectKernelModules=yes$' '^ProtectKernelLogs=yes$'
  '^MemoryMax=[0-9]+[KMG]$' '^LimitNOFILE=[0-9]+$' '^ExecReload=/bin/kill -HUP \$MAINPID$'
  '^ExecStartPre=/usr/local/bin/closehook check-config ' '^EnvironmentFile=' '^KillSignal=SIGTERM$'
)
for re in "${required[@]}"; do
  grep -Eq "$re" "$unit" || fail "missing directive matching /$re/"
done

# Every group of directives starts right below a comment saying why (section
# headers and the first lines of [Unit] are self-explanatory and exempt).
awk '
  /^\[/            { prev = "section"; next }
  /^#/             { prev = "comment"; next }
  /^[[:space:]]*$/ { prev = "blank"; next }
  prev == "blank"  { printf "line %d: directive without a comment above: %s\n", NR, $0; bad = 1 }
                   { prev = "directive" }
  END              { exit bad }
' "$unit" >&2 || fail "uncommented directives (above)"

echo "check_systemd: ok"
