"""What every closehook log line must be (log.h, issue 7): one JSON object per
line, with "time" (RFC 3339 UTC, milliseconds), "level" and "msg"; access
lines also with request_id, method, path, status and duration_ms. Shared by
the log and load-balancer tests, which read whole daemon logs with it.

check_lines(text) returns the parsed lines, or raises LogError naming the
first bad line. Duplicate keys in one object are an error: a collector keeps
one of them, and which one is up to the collector."""

import base64
import json
import re
import urllib.parse

TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\Z")
LEVELS = {"debug", "info", "warn", "error"}
ACCESS_FIELDS = ("request_id", "method", "path", "status", "duration_ms")


class LogError(AssertionError):
    pass


def _no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    dups = {k for k in keys if keys.count(k) > 1}
    if dups:
        raise LogError(f"duplicate key(s) {sorted(dups)}")
    return dict(pairs)


def check_line(line):
    try:
        obj = json.loads(line, object_pairs_hook=_no_duplicate_keys)
    except ValueError as e:
        raise LogError(f"not JSON ({e})") from None
    if not isinstance(obj, dict):
        raise LogError("not a JSON object")
    if not isinstance(obj.get("time"), str) or not TIME.match(obj["time"]):
        raise LogError(f"time {obj.get('time')!r} is not RFC 3339 UTC with milliseconds")
    if obj.get("level") not in LEVELS:
        raise LogError(f"level {obj.get('level')!r} is not one of {sorted(LEVELS)}")
    if not isinstance(obj.get("msg"), str) or not obj["msg"]:
        raise LogError(f"msg {obj.get('msg')!r} is not a non-empty string")
    if is_access(obj):
        check_access(obj)
    return obj


def is_access(obj):
    return obj.get("msg") == "access"


def check_access(obj):
    missing = [k for k in ACCESS_FIELDS if obj.get(k) in (None, "")]
    if missing:
        raise LogError(f"access line without {missing}")
    # Numbers are JSON numbers, not strings (issue 10, item 20).
    status, ms = obj["status"], obj["duration_ms"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise LogError(f"status {status!r} is not an HTTP status as a JSON number")
    if isinstance(ms, bool) or not isinstance(ms, (int, float)):
        raise LogError(f"duration_ms {ms!r} is not a JSON number")
    if not ms >= 0:
        raise LogError(f"duration_ms {ms} < 0")
    if "?" in obj["path"]:
        raise LogError(f"path {obj['path']!r} carries a query (it may hold a token)")


def check_lines(text):
    """Every line of a whole log; the text must end with a newline (a torn
    last line would mean a line was not written in one write)."""
    if text and not text.endswith("\n"):
        raise LogError(f"log does not end with a newline: {text[-200:]!r}")
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        try:
            out.append(check_line(line))
        except LogError as e:
            raise LogError(f"line {n}: {e}: {line[:500]!r}") from None
    return out


def secret_forms(secret):
    """The spellings a leaked secret could take in a log line: as is, base64
    (standard and URL-safe, padded or not), and URL-encoded (a form body)."""
    raw = secret.encode() if isinstance(secret, str) else secret
    forms = {raw.decode("latin-1")}
    for enc in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = enc.decode()
        forms.add(text)
        forms.add(text.rstrip("="))
    # Inside a longer base64 text (a Basic header's "id:secret", a JWT) the
    # secret starts 0, 1 or 2 bytes into a 3-byte group; the characters
    # between the first and last full group depend on the secret alone.
    for shift in (1, 2):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * shift + raw).decode()
            forms.add(text[4:4 * ((shift + len(raw)) // 3)])
    forms.add(urllib.parse.quote(raw, safe=""))
    forms.add(urllib.parse.quote_plus(raw))
    # Short forms would match by chance; every test secret is far longer.
    return {f for f in forms if len(f) >= 8}
