#!/usr/bin/env bash
# Checks deploy/nginx/closehook.conf with `nginx -t`. The file is an http-level
# snippet (Debian includes conf.d/*.conf inside http {}), so it is tested inside a
# minimal nginx.conf in a temp prefix, with its log path moved there too, so the
# check writes nothing under /var and needs no running nginx.
#   check_nginx.sh NGINX_SNIPPET
set -euo pipefail
snippet=$(readlink -f "$1")
fail() { echo "check_nginx: $*" >&2; exit 1; }

nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || fail "nginx not found (scripts/deps.sh installs it)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|/var/log/nginx/|$tmp/|g" "$snippet" >"$tmp/closehook.conf"
cat >"$tmp/nginx.conf" <<CONF
pid $tmp/nginx.pid;
error_log $tmp/error.log;
events {}
http {
    access_log off;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    include $tmp/closehook.conf;
}
CONF
out=$("$nginx" -t -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log" 2>&1) || fail "nginx -t failed:"$'\n'"$out"
! grep -q "\[warn\]" <<<"$out" || fail "nginx -t warns:"$'\n'"$out"

required=(
  '^ *keepalive [0-9]+;'                       # keep-alive to the nodes ...
  '^ *proxy_http_version 1\.1;'                # ... which needs HTTP/1.1
  'proxy_set_header X-Forwarded-For '
  'proxy_set_header X-Request-Id '
  '^ *proxy_next_upstream error'               # a stopping node's refused connection is retried
)
for re in "${required[@]}"; do
  grep -Eq -- "$re" "$snippet" || fail "missing: /$re/"
done
servers=$(grep -cE '^ *server [0-9a-z.:-]+ ' "$snippet")
[ "$servers" -ge 2 ] || fail "expected two or more upstream servers, found $servers"
echo "check_nginx: ok ($servers upstream servers)"
