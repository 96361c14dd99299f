"""HAProxy in front of two closehook nodes (issue 7): the shipped example,
deploy/haproxy/haproxy.cfg, run for real on loopback with only its addresses
and check timing changed, balancing two closehook processes that share
nothing but their config's contents (each has its own store; the fake Close
is the one outside service both talk to). Webhooks sent through HAProxy by
retrying senders (load.py) are all delivered, one PUT each; SIGTERM to one
node turns its /readyz 503, HAProxy takes it out before its listener closes,
and traffic moves to the other node without a single failed attempt; the
node exits 0; restarted on its store, HAProxy brings it back.

Needs the haproxy binary (Debian's package; scripts/deps.sh installs it). The
test is skipped, saying so, only when it is missing."""

import csv
import datetime
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

import harness
import load
from harness import E2ETestCase, free_port, request, wait_until

DEPLOY_CFG = os.path.join(harness.HERE, "..", "..", "deploy", "haproxy", "haproxy.cfg")
HAPROXY = shutil.which("haproxy", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")

# HAProxy checks /readyz this often and believes one answer either way, so a
# stopping node is out within about CHECK_INTER_MS (plus the check's own time).
CHECK_INTER_MS = 500
# How long a stopping node keeps serving after /readyz turned 503 (config.h's
# default): several check intervals, so HAProxy has seen the 503 well before
# the node's listener closes.
DRAIN_DELAY_MS = 2000
# The example's global maxconn (4096) needs more file descriptors than a
# normal user may have; the test's load needs far fewer.
HAPROXY_MAXCONN = 256
SENDER_THREADS = 4
SEND_RATE = 120           # new webhooks per second, all senders
LOAD_BEFORE_S = 1.5       # load on both nodes before the SIGTERM
LOAD_AFTER_S = 1.5        # load after the node came back
SEND_BUDGET_S = 90.0
# server.c: the drain, then up to ~11 s for idle keep-alive connections.
EXIT_TIMEOUT_S = 20.0
UP_TIMEOUT_S = 10.0
DELIVERY_BUDGET_S = 30.0
SETTLE_S = 1.5
# A request HAProxy routed just before it marked a node DOWN still arrives;
# on loopback that takes milliseconds.
SLACK_S = 0.2


def parse_wall(text):
    """A log line's "time" (RFC 3339 UTC) as a Unix time."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def derive_config(text, port, servers, stats_socket):
    """The example config with our frontend address, our servers, short
    checks and a stats socket; everything else (checks on /readyz, retries,
    timeouts, headers) as shipped. Fails loudly if the example no longer has
    what is substituted, rather than silently testing something else."""
    out, section, done = [], None, set()
    for line in text.splitlines():
        body = line.split("#", 1)[0].rstrip()
        if not body.strip():
            continue
        if not body[0].isspace():
            if section == "backend closehook":
                out.extend(f"    server {name} 127.0.0.1:{p}" for name, p in servers)
                done.add("servers")
            section = " ".join(body.split()[:2])
            out.append(body)
            if section == "global":
                out.append(f"    stats socket {stats_socket} mode 600 level admin")
            continue
        words = body.split()
        if section == "global" and words[0] == "maxconn":
            body = f"    maxconn {HAPROXY_MAXCONN}"
        elif section == "frontend webhooks" and words[0] == "bind":
            body = f"    bind 127.0.0.1:{port}"
            done.add("bind")
        elif section == "backend closehook" and words[0] == "server":
            continue
        elif section == "backend closehook" and words[0] == "default-server":
            if not {"check", "inter", "fall", "rise"} <= set(words):
                raise AssertionError(f"{DEPLOY_CFG}: default-server no longer has check inter fall rise")
            body = re.sub(r"\binter \S+", f"inter {CHECK_INTER_MS}ms", body)
            body = re.sub(r"\bfall \d+", "fall 1", body)
            body = re.sub(r"\brise \d+", "rise 1", body)
            done.add("checks")
        out.append(body)
    if section == "backend closehook":
        out.extend(f"    server {name} 127.0.0.1:{p}" for name, p in servers)
        done.add("servers")
    missing = {"bind", "servers", "checks"} - done
    if missing:
        raise AssertionError(f"{DEPLOY_CFG}: could not substitute {sorted(missing)} "
                             "(frontend webhooks / backend closehook changed shape?)")
    return "\n".join(out) + "\n"


class HAProxy:
    """haproxy -db (foreground) on a derived config; its log goes to a file."""

    def __init__(self, tmpdir, servers):
        self.port = free_port()
        self.socket_path = os.path.join(tmpdir, "haproxy.sock")
        self.cfg_path = os.path.join(tmpdir, "haproxy.cfg")
        self.log_path = os.path.join(tmpdir, "haproxy.log")
        with open(DEPLOY_CFG, encoding="utf-8") as f:
            cfg = derive_config(f.read(), self.port, servers, self.socket_path)
        with open(self.cfg_path, "w", encoding="utf-8") as f:
            f.write(cfg)
        self.proc = None
        self._log = None

    def check(self):
        out = subprocess.run([HAPROXY, "-c", "-f", self.cfg_path], capture_output=True, text=True)
        if out.returncode != 0:
            raise AssertionError(f"haproxy -c refused the derived config:\n{out.stdout}{out.stderr}")

    def start(self):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", self.cfg_path], stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log)
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def server_states(self):
        """{server name: status} of backend closehook ("UP", "DOWN", "MAINT", ...),
        from the stats socket; {} while the socket is not up."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(2)
                s.connect(self.socket_path)
                s.sendall(b"show stat\n")
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError:
            return {}
        text = data.decode("utf-8", "replace").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {r["svname"]: r["status"] for r in rows
                if r.get("pxname") == "closehook" and r.get("svname") not in ("FRONTEND", "BACKEND")}


class StateWatcher:
    """Polls HAProxy's view of the servers and remembers when each changed."""

    def __init__(self, lb):
        self.lb = lb
        self.changes = []  # (monotonic time, server, status)
        self._last = {}

    def poll(self):
        now = time.monotonic()
        for name, status in self.lb.server_states().items():
            if self._last.get(name) != status:
                self._last[name] = status
                self.changes.append((now, name, status))
        return dict(self._last)

    def first(self, name, prefix, after=0.0):
        for t, n, s in self.changes:
            if n == name and s.startswith(prefix) and t >= after:
                return t
        return None


@unittest.skipIf(HAPROXY is None, "haproxy is not installed (Debian package haproxy; scripts/deps.sh "
                                  "installs it): the load-balancer test cannot run")
class BehindHAProxy(E2ETestCase):
    def start_node(self, name):
        return self.start_daemon(
            routes=load.LOAD_ROUTES, name=f"{name}.json", store_path=os.path.join(self.tmp, f"{name}.db"),
            delivery={"retry_initial_ms": 50, "retry_max_ms": 500},
            extra={"shutdown": {"drain_delay_ms": DRAIN_DELAY_MS}})

    def start_lb(self, nodes):
        lb = HAProxy(self.tmp, [(f"node{i + 1}", d.port) for i, d in enumerate(nodes)])
        lb.check()
        self.addCleanup(self._stop_lb, lb)
        lb.start()
        watcher = StateWatcher(lb)
        up = wait_until(lambda: set(watcher.poll().values()) == {"UP"} and len(watcher.poll()) == 2,
                        timeout=UP_TIMEOUT_S)
        self.assertTrue(up, f"HAProxy did not see both nodes UP: {watcher.poll()}\n{lb.log_tail()}")
        return lb, watcher

    def _stop_lb(self, lb):
        lb.stop()
        if self._has_failed():
            sys.stderr.write(f"\n---- haproxy log ({lb.log_path}) ----\n{lb.log_tail(80)}\n"
                             f"---- config ----\n{open(lb.cfg_path).read()}\n")

    def queued_ids(self, d):
        """The request ids of the webhooks a node queued, from its log."""
        return [o.get("request_id") for o in d.logs() if o.get("msg") == "queued"]

    def test_example_config_answers_through_haproxy(self):
        """A webhook goes through; /metrics is not public; the sender's
        X-Request-Id reaches the node and comes back."""
        nodes = [self.start_node("node1"), self.start_node("node2")]
        lb, _ = self.start_lb(nodes)
        w = load.Webhook("one", 0, harness.SAMPLE_ACTIVITY_ID)
        status, headers, body = request(lb.port, "POST", f"/hooks/{load.LOAD_ROUTE}", body=w.body,
                                        headers=dict(w.headers, **{"X-Request-Id": "sender-rid-42"}))
        self.assertQueued((status, headers, body))
        self.assertEqual(headers.get("x-request-id"), "sender-rid-42")
        self.assertEqual(sum(self.queued_ids(d).count("sender-rid-42") for d in nodes), 1)
        other = load.Webhook("one", 1, harness.SAMPLE_ACTIVITY_ID)
        status, headers, body = request(lb.port, "POST", f"/hooks/{load.LOAD_ROUTE}", body=other.body,
                                        headers=other.headers)
        self.assertQueued((status, headers, body))
        rid = headers.get("x-request-id")
        self.assertTrue(rid, "HAProxy's unique id did not come back")
        self.assertEqual(sum(self.queued_ids(d).count(rid) for d in nodes), 1, "HAProxy's id is not the node's")
        self.assertEqual(request(lb.port, "GET", "/metrics")[0], 404)
        self.assertEqual(request(lb.port, "GET", "/healthz")[0], 200)
        self.wait_successful_puts(2)

    def test_sigterm_moves_traffic_without_a_failed_webhook(self):
        ids = load.activity_ids()
        load.add_meetings(self.fake, harness.sample_meeting(), ids)
        node1, node2 = self.start_node("node1"), self.start_node("node2")
        lb, watch = self.start_lb([node1, node2])

        senders = load.Senders(lambda: lb.port, ids, "lb", SENDER_THREADS,
                               time.monotonic() + SEND_BUDGET_S, rate=SEND_RATE).start()
        self.addCleanup(senders.join, 5)
        self.addCleanup(senders.stop_new)
        both = wait_until(lambda: self.queued_ids(node1) and self.queued_ids(node2), timeout=10)
        self.assertTrue(both, f"load did not reach both nodes: {senders.outcome_counts()}")
        time.sleep(LOAD_BEFORE_S)  # load on both nodes, not an assertion

        signalled = time.monotonic()
        node1.proc.send_signal(signal.SIGTERM)
        listener_closes = signalled + DRAIN_DELAY_MS / 1000.0
        while node1.proc.poll() is None and time.monotonic() - signalled < EXIT_TIMEOUT_S:
            watch.poll()
            time.sleep(0.05)
        exited = time.monotonic()
        self.assertIsNotNone(node1.proc.poll(), f"node1 did not exit {EXIT_TIMEOUT_S} s after SIGTERM:\n"
                                                f"{node1.log_tail()}")
        self.assertEqual(node1.proc.returncode, 0, f"node1's exit code on SIGTERM:\n{node1.log_tail()}")
        down = watch.first("node1", "DOWN", after=signalled)
        self.assertIsNotNone(down, f"HAProxy never marked node1 DOWN: {watch.changes}\n{lb.log_tail()}")
        self.assertLess(down, listener_closes, f"HAProxy saw node1 DOWN {down - signalled:.2f} s after the "
                                               f"SIGTERM, after its listener closed ({DRAIN_DELAY_MS} ms)")
        accepted_at_exit = senders.accepted_count()
        # once HAProxy had it DOWN, node1 queued nothing more (requests already
        # on their way get SLACK_S to arrive)
        down_wall = time.time() - (time.monotonic() - down)
        late = [o for o in node1.logs() if o.get("msg") == "queued" and parse_wall(o["time"]) > down_wall + SLACK_S]
        self.assertEqual(late, [], "node1 still got webhooks after HAProxy marked it DOWN")

        # back on its own store and port: HAProxy sees it ready and sends it traffic again
        node1.start(node1.port)
        back = wait_until(lambda: watch.poll().get("node1") == "UP", timeout=UP_TIMEOUT_S)
        self.assertTrue(back, f"HAProxy did not bring node1 back: {watch.changes}")
        queued_before = len(self.queued_ids(node1))
        time.sleep(LOAD_AFTER_S)  # load on both nodes again, not an assertion
        senders.stop_new()
        self.assertTrue(senders.join(SEND_BUDGET_S), "senders still running at the deadline")

        webhooks = senders.webhooks()
        attempts = senders.attempts()
        failed = [(w.token, a) for w, a in attempts if not (isinstance(a.outcome, int) and 200 <= a.outcome < 300)]
        self.assertEqual([(w.token, w.failure) for w in webhooks if w.failure], [],
                         "webhooks answered neither 2xx nor 503")
        self.assertEqual([w.token for w in webhooks if w.accepted_at is None], [], "webhooks without a 2xx")
        self.assertEqual(failed, [], f"failed attempts (the sender had to retry): {senders.outcome_counts()}")
        self.assertGreater(accepted_at_exit, 0)
        moved = [a for w, a in attempts if down <= a.start and a.end <= exited]
        self.assertTrue(moved, "no webhook was sent while node1 was out: nothing shows traffic moved")
        self.assertGreater(len(self.queued_ids(node1)), queued_before, "node1 got no traffic after its return")

        seen = load.wait_delivered(self.fake, webhooks, DELIVERY_BUDGET_S)
        self.assertTrue(all(seen.delivered(w) for w in webhooks), load.missing_report(seen, webhooks))
        time.sleep(SETTLE_S)  # watching for duplicates, not asserting on timing
        seen = load.Deliveries(self.fake)
        self.assertEqual(seen.unmatched, [], "PUTs that carry no webhook's token")
        self.assertEqual(seen.wrong_target(webhooks), [], "PUTs to the wrong meeting")
        self.assertEqual(seen.duplicates(), {}, "no sender retried, so nothing may be delivered twice")
        lb.stop()  # its idle keep-alive connections would hold the nodes' exit
        for d in (node1, node2):
            self.assertEqual(d.stop(), 0, f"exit code on SIGTERM:\n{d.log_tail()}")
        sys.stderr.write(f"\n  {len(webhooks)} webhooks through HAProxy, node1 DOWN "
                         f"{down - signalled:.2f} s after SIGTERM, exited after {exited - signalled:.2f} s; "
                         f"{len(moved)} sent while it was out; outcomes {senders.outcome_counts()}\n")


if __name__ == "__main__":
    harness.run()
