"""Shared pieces of the end-to-end tests: run the real closehook binary against
the fake Close (fake_close.py) on 127.0.0.1 and talk to it like a sender would.

Each test gets a fresh temp dir (config, store, daemon log), its own ports and
its own fake; daemons are always killed in the cleanup, also when a test fails,
and a failing test prints the daemon's log tail so the cause is visible in the
ctest output. Delivery is asynchronous, so tests wait on conditions
(wait_until, FakeClose.wait_for) and never use a fixed sleep as an assertion.

Each test file runs as
    python3 test_x.py --binary /path/closehook --samples /path/tests/samples
(see tests/CMakeLists.txt); run() strips those two arguments before unittest.
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_close import FakeClose, load_sample_meeting  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BINARY = os.path.join(HERE, "..", "..", "build", "closehook")
SAMPLES = os.path.join(HERE, "..", "samples")

# Secrets exist only in the daemon's environment (the config holds env: refs).
CLOSE_API_KEY = "api_e2eKey0123456789abcdef"
ZOOM_SECRET = "zoom-e2e-secret-token-42"
GENERIC_SECRET = "generic-e2e-hmac-key-77"
# The admin listener's bearer token: /metrics and /admin/* live there only.
METRICS_TOKEN = "metrics-e2e-admin-token-0123456789"

SAMPLE_ACTIVITY_ID = "acti_3fQnXbWcOyvHk6Zz0o0iA4J8nmRZb1yJYKZLBCLG9pb"
MEETING_PATH = f"/api/v1/activity/meeting/{SAMPLE_ACTIVITY_ID}/"

# Zoom's tolerance for x-zm-request-timestamp is 5 minutes (senders.md).
ZOOM_TOLERANCE_S = 300
# How long delivery may take in these tests: retries start at 200 ms and are
# capped at 1 s by write_config, so 15 s covers several retries with margin.
DELIVERY_TIMEOUT_S = 15.0
# After the expected PUTs arrived, how long we watch for an unexpected extra
# one: several retry intervals at the config's retry_max_ms of 1 s.
SETTLE_S = 1.5
# The daemon must answer /healthz within this after exec.
STARTUP_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0

ROUTES = [
    {"name": "zoom", "source": "zoom", "secret": "env:ZOOM_SECRET", "credential": "close",
     "rules": [
         {"event": "meeting.summary_completed", "outcome_id": "outcome_summary",
          "note": "<h3>{{payload.object.summary_title}}</h3><p>{{payload.object.summary_overview}}</p>"
                  "{{payload.object.next_steps}}"},
         {"event": "meeting.ended", "outcome_id": "outcome_held",
          "note": "<p>Zoom meeting {{payload.object.topic}} ended after {{payload.object.duration}} min.</p>"},
     ]},
    {"name": "notetaker", "source": "generic", "secret": "env:GENERIC_SECRET", "credential": "close",
     "event_type_path": "event", "activity_id_path": "close.activity_id", "dedup_path": "id",
     "rules": [
         {"event": "call_outcome", "when": {"outcome": "no_show"}, "outcome_id": "outcome_noshow",
          "note": "<p>{{notes}}</p>"},
     ]},
]


# ---- arguments ----------------------------------------------------------

def run():
    """Strips --binary/--samples from argv, then runs unittest.main."""
    global BINARY, SAMPLES
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--binary", default=BINARY)
    ap.add_argument("--samples", default=SAMPLES)
    args, rest = ap.parse_known_args()
    BINARY = os.path.abspath(args.binary)
    SAMPLES = os.path.abspath(args.samples)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


def sample(rel):
    """A sample payload's exact bytes (signatures cover the raw body)."""
    with open(os.path.join(SAMPLES, rel), "rb") as f:
        return f.read()


def sample_meeting():
    return load_sample_meeting(SAMPLES)


# ---- ports, config ------------------------------------------------------

# A generic route per credential with one outcome rule, and the webhook it
# takes: what the tests that run several credentials side by side share.
OUTCOME_RULES = [{"event": "call_outcome", "outcome_id": "outcome_noshow", "note": "<p>{{notes}}</p>"}]


def credential_route(name, credential):
    return {"name": name, "source": "generic", "secret": "env:GENERIC_SECRET", "credential": credential,
            "event_type_path": "event", "activity_id_path": "close.activity_id", "dedup_path": "id",
            "rules": OUTCOME_RULES}


def outcome_webhook(route_name, k, activity_id):
    return json.dumps({"event": "call_outcome", "id": f"evt_{route_name}_{k}",
                       "close": {"activity_id": activity_id},
                       "outcome": "no_show", "notes": f"{route_name} {k}"}).encode()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmpdir, port, close_url, body_limit=1048576, delivery=None, routes=None,
                 store_path=None, extra=None, name="closehook.json"):
    """Writes a closehook config (with a comment, which the format allows)."""
    cfg = {
        "listen": [{"host": "127.0.0.1", "port": port}],
        "threads": 2,
        "body_limit": body_limit,
        "store": {"path": store_path or os.path.join(tmpdir, "q.db")},
        "close": {"base_url": close_url, "timeout_ms": 5000},
        "delivery": {"workers": 2, "retry_initial_ms": 200, "retry_max_ms": 1000, "max_age_s": 600},
        "resolve": {"window_s": 7200},
        "credentials": {"close": {"api_key": "env:CLOSE_API_KEY"}},
        "routes": routes if routes is not None else ROUTES,
    }
    if delivery:
        cfg["delivery"].update(delivery)
    if extra:
        cfg.update(extra)
    path = os.path.join(tmpdir, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write("// written by tests/e2e/harness.py\n")
        json.dump(cfg, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return path


def daemon_env(api_key=True, extra=None):
    """The daemon's environment: ours minus any closehook secrets, plus the test ones."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("CLOSE_API_KEY", "ZOOM_SECRET", "GENERIC_SECRET")}
    env["ZOOM_SECRET"] = ZOOM_SECRET
    env["GENERIC_SECRET"] = GENERIC_SECRET
    if api_key:
        env["CLOSE_API_KEY"] = CLOSE_API_KEY
    if extra:
        env.update(extra)
    return env


# ---- the daemon ---------------------------------------------------------

class DaemonError(AssertionError):
    pass


class Daemon:
    """One closehook serve process.

    make_config(port) -> config path; called again with a new port when the
    daemon could not bind (another process took the port we probed)."""

    BIND_ATTEMPTS = 5

    def __init__(self, binary, make_config, env, log_path, preexec=None):
        self.preexec = preexec  # run in the child before exec (e.g. setrlimit)
        self.binary = binary
        self.make_config = make_config
        self.env = env
        self.log_path = log_path
        self.port = None
        self.config_path = None
        self.proc = None
        self._log_file = None
        self.serve_args = []  # extra `serve` options, e.g. ["--dry-run"]

    def start(self, port=None):
        """Starts and waits for /healthz 200. Reuses port (e.g. on restart) when given."""
        want = port or self.port
        for attempt in range(self.BIND_ATTEMPTS):
            self.port = want if (want and attempt == 0) else free_port()
            self.config_path = self.make_config(self.port)
            self._spawn()
            state = self._wait_healthy()
            if state == "up":
                return self
            tail = self.log_tail()
            if state == "exited" and _looks_like_bind_failure(tail):
                continue
            self.kill9()
            raise DaemonError(f"closehook did not become healthy ({state}, exit "
                              f"{self.proc.returncode}); log tail:\n{tail}")
        raise DaemonError(f"closehook could not bind after {self.BIND_ATTEMPTS} ports:\n{self.log_tail()}")

    def _spawn(self):
        if self._log_file is not None:
            self._log_file.close()
        self._log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--config", self.config_path, *self.serve_args],
            stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=self._log_file,
            env=self.env, cwd=os.path.dirname(self.config_path), preexec_fn=self.preexec)

    def _wait_healthy(self):
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return "exited"
            try:
                status, _, _ = request(self.port, "GET", "/healthz", timeout=1)
                if status == 200:
                    return "up"
            except OSError:
                pass
            time.sleep(0.05)
        return "timeout"

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM, wait, then SIGKILL. Returns the exit code (None if not started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_log()
        return self.proc.returncode

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_log()

    def _close_log(self):
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def logs(self):
        """The log as a list of dicts; a line that is not JSON becomes {"_raw": line}."""
        out = []
        for line in self.log_text().splitlines():
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                out.append(obj if isinstance(obj, dict) else {"_raw": line})
            except ValueError:
                out.append({"_raw": line})
        return out

    def log_tail(self, lines=40):
        return "\n".join(self.log_text().splitlines()[-lines:])


def _looks_like_bind_failure(text):
    low = text.lower()
    return "address already in use" in low or "eaddrinuse" in low or "bind" in low


# ---- talking to the daemon ----------------------------------------------

def request(port, method, path, body=None, headers=None, timeout=10):
    """One HTTP request to 127.0.0.1:port -> (status, headers lower-cased, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def raw_exchange(port, data):
    """Sends bytes as they are over a bare socket (for framing http.client will
    not produce: absolute-form targets, hand-made chunks) and reads until the
    daemon closes; returns (status, JSON body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    head, _, payload = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


def post(port, path, body, headers=None, content_type="application/json"):
    hdrs = dict(headers or {})
    if content_type is not None:
        hdrs["Content-Type"] = content_type
    return request(port, "POST", path, body=body, headers=hdrs)


def zoom_headers(secret, body, ts=None):
    ts = int(time.time()) if ts is None else int(ts)
    mac = hmac.new(secret.encode(), b"v0:%d:" % ts + body, hashlib.sha256).hexdigest()
    return {"x-zm-request-timestamp": str(ts), "x-zm-signature": "v0=" + mac}


def generic_headers(secret, body):
    return {"X-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def basic_auth(key):
    return "Basic " + base64.b64encode((key + ":").encode()).decode()


def scrape(daemon, method="GET", body=None):
    """/metrics from the daemon's admin listener (start_daemon(admin=True))."""
    return request(daemon.admin_port, method, "/metrics", body=body,
                   headers={"Authorization": "Bearer " + METRICS_TOKEN})


def wait_until(predicate, timeout=DELIVERY_TIMEOUT_S, interval=0.05):
    """Polls predicate until truthy; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def parse_json(body):
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


# ---- the test base ------------------------------------------------------

class E2ETestCase(unittest.TestCase):
    """Fresh temp dir and fake Close per test; daemons stopped in cleanup."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="closehook-e2e-")
        self.daemons = []
        self.fake = FakeClose(api_keys=[CLOSE_API_KEY], meetings=[sample_meeting()]).start()
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        failed = self._has_failed()
        for d in self.daemons:
            d.kill9() if failed else d.stop()
        if failed:
            for i, d in enumerate(self.daemons):
                sys.stderr.write(f"\n---- daemon {i} log tail ({d.log_path}) ----\n{d.log_tail(60)}\n")
            sys.stderr.write("---- fake Close saw ----\n")
            for r in self.fake.requests():
                sys.stderr.write(f"  {r!r}\n")
        self.fake.stop()
        if failed and os.environ.get("CLOSEHOOK_E2E_KEEP"):
            sys.stderr.write(f"kept {self.tmp}\n")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _has_failed(self):
        # unittest resets _outcome.success for each part (cleanups included), but
        # failures are reported to the result at once, so look there
        result = getattr(self._outcome, "result", None)
        if result is None:
            return False
        return any(test is self for test, _ in result.failures + result.errors)

    def config_writer(self, close_url=None, **kw):
        url = close_url or self.fake.url
        return lambda port: write_config(self.tmp, port, url, **kw)

    def start_daemon(self, api_key=True, env=None, close_url=None, preexec=None, admin=False, serve_args=(),
                     **config):
        """Starts closehook on a fresh port with this test's config. admin=True
        adds the admin listener (where /metrics is served) on d.admin_port;
        serve_args are appended to `closehook serve --config FILE`."""
        if not os.access(BINARY, os.X_OK):
            self.fail(f"no closehook binary at {BINARY} (pass --binary)")
        admin_port = None
        if admin:
            admin_port = free_port()
            extra = dict(config.pop("extra", None) or {})
            extra["admin"] = {"listen": {"host": "127.0.0.1", "port": admin_port}, "token": "env:METRICS_TOKEN"}
            config["extra"] = extra
            env = dict(env or {}, METRICS_TOKEN=METRICS_TOKEN)
        d = Daemon(BINARY, self.config_writer(close_url, **config), daemon_env(api_key, env),
                   os.path.join(self.tmp, f"daemon{len(self.daemons)}.log"), preexec=preexec)
        d.admin_port = admin_port
        d.serve_args = list(serve_args)
        self.daemons.append(d)
        return d.start()

    def send_zoom(self, daemon, body, ts=None, secret=ZOOM_SECRET, route="zoom"):
        if isinstance(body, str):
            body = sample(body)
        return post(daemon.port, f"/hooks/{route}", body, zoom_headers(secret, body, ts))

    def send_generic(self, daemon, body, secret=GENERIC_SECRET, route="notetaker"):
        if isinstance(body, str):
            body = sample(body)
        return post(daemon.port, f"/hooks/{route}", body, generic_headers(secret, body))

    # -- assertions --

    def assertJSONAnswer(self, answer, code, **expected):
        """answer is (status, headers, body): checks the status code, JSON content type
        and fields (a value of ... only checks the key is there)."""
        got_code, headers, body = answer
        self.assertEqual(got_code, code, f"body: {body[:500]!r}")
        self.assertTrue(headers.get("content-type", "").startswith("application/json"),
                        f"content-type {headers.get('content-type')!r}, body {body[:200]!r}")
        doc = parse_json(body)
        self.assertIsInstance(doc, dict, f"not a JSON object: {body[:500]!r}")
        for key, value in expected.items():
            self.assertIn(key, doc, f"answer {doc}")
            if value is not ...:
                self.assertEqual(doc[key], value, f"answer {doc}")
        return doc

    def assertQueued(self, answer):
        doc = self.assertJSONAnswer(answer, 202, status="queued", id=...)
        self.assertIsInstance(doc["id"], str)
        self.assertTrue(doc["id"], "empty id")
        return doc

    def wait_successful_puts(self, n, timeout=DELIVERY_TIMEOUT_S):
        """Waits for n 2xx PUTs, then checks no further PUT comes during SETTLE_S."""
        self.fake.wait_for(lambda f: len(f.successful_puts()) >= n, timeout)
        got = self.fake.successful_puts()
        self.assertEqual(len(got), n, f"expected {n} successful PUT(s) within {timeout}s, "
                                      f"fake saw {self.fake.requests()}")
        before = len(self.fake.puts())
        time.sleep(SETTLE_S)  # watching for extras, not asserting on timing
        extra = self.fake.puts()[before:]
        self.assertEqual(extra, [], "unexpected extra PUT(s) after delivery")
        return got

    def assertClosePut(self, rec, path=MEETING_PATH, body=None):
        """A PUT as Close expects it: path, auth, content type, user agent, JSON body."""
        self.assertEqual(rec.method, "PUT")
        self.assertEqual(rec.path, path)
        self.assertEqual(rec.raw_query, "")
        self.assertEqual(rec.headers.get("authorization"), basic_auth(CLOSE_API_KEY))
        self.assertEqual(rec.headers.get("content-type", "").split(";")[0].strip(), "application/json")
        self.assertTrue(rec.headers.get("user-agent", "").startswith("closehook/"),
                        f"user-agent {rec.headers.get('user-agent')!r}")
        doc = rec.json()
        if body is not None:
            self.assertEqual(doc, body)
        return doc
