#!/usr/bin/env bash
# Checks deploy/haproxy/haproxy.cfg with HAProxy's own parser (`haproxy -c`), which
# also resolves every keyword against the installed 2.6, and treats its warnings as
# errors: a warning there is usually a directive that silently does nothing. Then
# checks the parts the deployment relies on are still there.
#   check_haproxy.sh HAPROXY_CFG
set -euo pipefail
cfg=$1
fail() { echo "check_haproxy: $*" >&2; exit 1; }

haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)
[ -x "$haproxy" ] || fail "haproxy not found (scripts/deps.sh installs it)"

out=$("$haproxy" -c -f "$cfg" 2>&1) || fail "haproxy -c failed:"$'\n'"$out"
! grep -q "WARNING" <<<"$out" || fail "haproxy -c warns:"$'\n'"$out"

required=(
  '^ *http-check send meth GET uri /readyz'   # health check on readiness, not liveness
  '^ *http-check expect status 200'
  '^ *option forwardfor'                      # X-Forwarded-For for closehook's trusted proxies
  'set-header X-Request-Id'
  '^ *http-reuse '                            # keep-alive to the nodes
  '^ *retry-on conn-failure'                  # a stopping node's refused connection is retried
)
for re in "${required[@]}"; do
  grep -Eq -- "$re" "$cfg" || fail "missing: /$re/"
done
servers=$(grep -cE '^ *server ' "$cfg")
[ "$servers" -ge 2 ] || fail "expected two or more servers, found $servers"
echo "check_haproxy: ok ($servers servers)"
