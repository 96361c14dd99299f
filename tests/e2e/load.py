"""Load for the end-to-end fault tests (issue 6: crash storm, SIGTERM drain):
many distinct generic webhooks, each carrying a unique token into the PUT's
note, sent by concurrent sender threads that behave like a real sender: one
keep-alive connection each, and a webhook is retried (connection refused or
reset, timeout, 503) until it gets a 2xx or the deadline passes. Every attempt
is recorded with its time, so a test can tell what happened around a kill or a
SIGTERM, and the fake's PUTs are matched back to webhooks by their token.

Built on harness.py and fake_close.py without changing them."""

import copy
import errno
import hashlib
import hmac
import http.client
import itertools
import json
import re
import threading
import time

from harness import GENERIC_SECRET

LOAD_ROUTE = "load"
# A route of its own: the generic sender, the activity id taken from the payload
# (no lookup, so the fake's PUTs are the whole story) and the note carrying the
# webhook's token.
LOAD_ROUTES = [
    {"name": LOAD_ROUTE, "source": "generic", "secret": "env:GENERIC_SECRET", "credential": "close",
     "event_type_path": "event", "activity_id_path": "close.activity_id", "dedup_path": "id",
     "rules": [{"event": "call_outcome", "outcome_id": "outcome_load", "note": "<p>{{notes}}</p>"}]},
]
NOTE_RE = re.compile(r"^<p>([A-Za-z0-9-]+)</p>$")

# Updates to one meeting go out one at a time (queue.h's order key), so the
# load is spread over this many meetings to let every delivery worker run.
ACTIVITY_COUNT = 40
# Each sender's socket timeout: far above a commit's latency, so only a hung
# daemon trips it.
SEND_TIMEOUT_S = 10.0
# Pause before retrying after a connection error: a restarting daemon is back
# within a few hundred ms, and hammering a closed port tells us nothing.
CONNECT_RETRY_S = 0.02
# The daemon's 503 says Retry-After: 5; a test cannot wait that long per
# retry, so senders here wait at most this much (still backing off, not spinning).
RETRY_AFTER_CAP_S = 0.25


def activity_ids(count=ACTIVITY_COUNT):
    """Close-shaped activity ids ("acti_" + base62), one per fake meeting."""
    return [f"acti_load{i:04d}" + "x" * 34 for i in range(count)]


def add_meetings(fake, meeting, ids):
    """Gives the fake one meeting per id, copies of the sample meeting."""
    for aid in ids:
        m = copy.deepcopy(meeting)
        m["id"] = aid
        fake.add_meeting(m)


def signed_headers(body, secret=GENERIC_SECRET):
    return {"Content-Type": "application/json",
            "X-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


class Attempt:
    """One try at sending a webhook: outcome is an HTTP status (int) or the
    name of a connection error ("refused", "reset", "timeout", …)."""
    __slots__ = ("start", "end", "outcome")

    def __init__(self, start, end, outcome):
        self.start, self.end, self.outcome = start, end, outcome

    def __repr__(self):
        return f"<{self.outcome} at {self.start:.3f}>"


class Webhook:
    def __init__(self, prefix, index, activity_id):
        self.index = index
        self.token = f"{prefix}-{index:06d}"
        self.activity_id = activity_id
        doc = {"event": "call_outcome", "id": f"evt_{self.token}",
               "close": {"activity_id": activity_id}, "outcome": "no_show", "notes": self.token}
        self.body = json.dumps(doc).encode()
        self.headers = signed_headers(self.body)
        self.attempts = []
        self.accepted_at = None  # monotonic time of the first 2xx answer (end of that attempt)
        self.answer = None       # that answer's JSON
        self.failure = None      # a final answer that is neither 2xx nor retryable

    @property
    def note(self):
        return f"<p>{self.token}</p>"


def _error_name(exc):
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return "timeout"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)):
        return "reset"
    if isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED:
        return "refused"
    return type(exc).__name__


class Senders:
    """nthreads sender threads posting webhooks to 127.0.0.1:port_fn().

    Webhooks are made on demand (prefix-000000, prefix-000001, …, meetings taken
    round-robin from ids) until `limit` were made or stop_new() is called; each
    one taken is retried until a 2xx or until `deadline` (monotonic). With
    `rate`, new webhooks start at most that many per second (all threads
    together); retries are not paced by it."""

    def __init__(self, port_fn, ids, prefix, nthreads, deadline, limit=None, route=LOAD_ROUTE, rate=None):
        self.port_fn = port_fn
        self.ids = ids
        self.prefix = prefix
        self.path = f"/hooks/{route}"
        self.deadline = deadline
        self.limit = limit
        self.rate = rate
        self._lock = threading.Lock()
        self._counter = itertools.count()
        self._made = []
        self._stop_new = threading.Event()
        self._threads = [threading.Thread(target=self._run, name=f"sender-{i}", daemon=True)
                         for i in range(nthreads)]
        self.started_at = None

    # -- control --

    def start(self):
        self.started_at = time.monotonic()
        for t in self._threads:
            t.start()
        return self

    def stop_new(self):
        """No new webhooks from now on; those under way are still retried to a 2xx."""
        self._stop_new.set()

    def join(self, timeout=None):
        end = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if end is None else max(0.0, end - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    # -- inspection --

    def webhooks(self):
        with self._lock:
            return list(self._made)

    def accepted(self):
        return [w for w in self.webhooks() if w.accepted_at is not None]

    def accepted_count(self):
        return sum(1 for w in self.webhooks() if w.accepted_at is not None)

    def attempts(self):
        """Every attempt so far as (webhook, attempt), by start time."""
        out = [(w, a) for w in self.webhooks() for a in list(w.attempts)]
        out.sort(key=lambda wa: wa[1].start)
        return out

    def outcome_counts(self):
        counts = {}
        for _, a in self.attempts():
            counts[a.outcome] = counts.get(a.outcome, 0) + 1
        return counts

    # -- the threads --

    def _next(self):
        with self._lock:
            if self._stop_new.is_set():
                return None
            i = next(self._counter)
            if self.limit is not None and i >= self.limit:
                return None
            w = Webhook(self.prefix, i, self.ids[i % len(self.ids)])
            self._made.append(w)
        if self.rate:
            time.sleep(max(0.0, self.started_at + i / self.rate - time.monotonic()))
        return w

    def _run(self):
        conn = None
        try:
            while time.monotonic() < self.deadline:
                w = self._next()
                if w is None:
                    return
                conn = self._send_until_accepted(w, conn)
        finally:
            if conn is not None:
                conn.close()  # the daemon waits for idle keep-alive connections on stop

    def _send_until_accepted(self, w, conn):
        while time.monotonic() < self.deadline:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port_fn(), timeout=SEND_TIMEOUT_S)
            start = time.monotonic()
            try:
                conn.request("POST", self.path, body=w.body, headers=w.headers)
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
                retry_after = resp.getheader("Retry-After")
            except (OSError, http.client.HTTPException) as exc:
                w.attempts.append(Attempt(start, time.monotonic(), _error_name(exc)))
                conn.close()
                conn = None
                time.sleep(CONNECT_RETRY_S)
                continue
            end = time.monotonic()
            w.attempts.append(Attempt(start, end, status))
            if 200 <= status < 300:
                w.accepted_at = end
                try:
                    w.answer = json.loads(data.decode("utf-8"))
                except ValueError:
                    w.answer = {"_raw": data[:200]}
                return conn
            if status == 503:
                try:
                    wait = float(retry_after) if retry_after else RETRY_AFTER_CAP_S
                except ValueError:
                    wait = RETRY_AFTER_CAP_S
                time.sleep(min(wait, RETRY_AFTER_CAP_S))
                continue
            w.failure = (status, data[:300])
            return conn
        return conn


class Deliveries:
    """The fake's successful PUTs grouped by the token in their note."""

    def __init__(self, fake):
        self.by_token = {}
        self.unmatched = []
        for rec in fake.successful_puts():
            try:
                note = rec.json().get("user_note_html", "")
            except ValueError:
                note = ""
            m = NOTE_RE.match(note or "")
            if m is None:
                self.unmatched.append(rec)
            else:
                self.by_token.setdefault(m.group(1), []).append(rec)

    def delivered(self, w):
        return w.token in self.by_token

    def duplicates(self):
        """token -> its PUTs, for tokens PUT more than once."""
        return {t: recs for t, recs in self.by_token.items() if len(recs) > 1}

    def wrong_target(self, webhooks):
        """Webhooks whose PUT went to another meeting than theirs."""
        out = []
        for w in webhooks:
            for rec in self.by_token.get(w.token, []):
                if rec.path != f"/api/v1/activity/meeting/{w.activity_id}/":
                    out.append((w.token, rec.path))
        return out


def wait_delivered(fake, webhooks, timeout):
    """Waits until every webhook in webhooks has a successful PUT; returns the
    Deliveries seen last."""
    deadline = time.monotonic() + timeout
    while True:
        seen = Deliveries(fake)
        if all(seen.delivered(w) for w in webhooks) or time.monotonic() >= deadline:
            return seen
        time.sleep(0.2)


# What ASan, LSan and UBSan print; a daemon built with -DCLOSEHOOK_SANITIZE=ON
# reports into its log (UBSan without changing the exit code).
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def sanitizer_reports(log_text):
    """The log lines where a sanitizer reported a problem."""
    return [line for line in log_text.splitlines() if any(m in line for m in SANITIZER_MARKS)]


def missing_report(seen, webhooks, limit=10):
    """A readable list of webhooks with no PUT, and what their senders saw."""
    missing = [w for w in webhooks if not seen.delivered(w)]
    lines = [f"{len(missing)} of {len(webhooks)} accepted webhook(s) never delivered:"]
    for w in missing[:limit]:
        lines.append(f"  {w.token} -> {w.activity_id}: answer {w.answer} attempts {w.attempts}")
    return "\n".join(lines)
