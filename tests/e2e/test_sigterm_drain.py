"""Issue 6, fault test 5: SIGTERM under load is a clean hand-over. /readyz
turns 503 at once so a load balancer moves traffic away, webhooks are still
served (202, not 503) through shutdown.drain_delay_ms, then the listener
closes (new connections are refused), the process exits 0, and nothing that
got a 2xx is lost: what was not delivered before the exit is delivered by the
next process on the same store. Senders keep going throughout and retry what
was refused against the restarted daemon."""

import http.client
import signal
import subprocess
import sys
import time

import harness
import load
from harness import E2ETestCase, request, wait_until

SENDER_THREADS = 4
# New webhooks per second (all senders): above what the slowed fake lets the
# workers deliver, so a backlog is waiting at the SIGTERM.
SEND_RATE = 150
WORKERS = 2
PUT_DELAY_S = 0.05
DRAIN_DELAY_MS = 1500
# Load runs until this many webhooks were accepted before the signal.
ACCEPTED_BEFORE_SIGNAL = 200
# /readyz must say 503 this soon after the signal.
READYZ_DEADLINE_S = 0.5
# The exit may wait for answers in flight, the workers' current rows and idle
# keep-alive connections (server.c: about 11 s at most).
EXIT_TIMEOUT_S = 20.0
# With only an idle keep-alive connection open, the exit comes after the drain
# delay plus about a second (server.c: SERVER_DRAIN_IDLE_MS), not after h2o's
# 10 s request timeout; the bound leaves room for a slow sanitizer build.
IDLE_EXIT_TIMEOUT_S = 6.0
# Between the exit and the restart senders must meet a closed port.
DOWN_S = 0.5
# Load goes on this long on the restarted daemon before senders stop starting new webhooks.
LOAD_AFTER_RESTART_S = 1.0
SEND_BUDGET_S = 90.0
DELIVERY_BUDGET_S = 30.0
# After the last delivery, watch this long for duplicates (several retry_max_ms).
SETTLE_S = 1.5


def refused(port):
    """Whether a new connection to port is refused."""
    try:
        request(port, "GET", "/healthz", timeout=2)
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


class SigtermDrain(E2ETestCase):
    def test_sigterm_under_load_drains_and_loses_nothing(self):
        self.fake.set_put_delay(PUT_DELAY_S)
        ids = load.activity_ids()
        load.add_meetings(self.fake, harness.sample_meeting(), ids)
        d = self.start_daemon(routes=load.LOAD_ROUTES,
                              delivery={"workers": WORKERS, "retry_initial_ms": 50, "retry_max_ms": 500},
                              extra={"shutdown": {"drain_delay_ms": DRAIN_DELAY_MS}})
        senders = load.Senders(lambda: d.port, ids, "drain", SENDER_THREADS,
                               time.monotonic() + SEND_BUDGET_S, rate=SEND_RATE).start()
        self.addCleanup(senders.join, 5)
        self.addCleanup(senders.stop_new)
        self.assertTrue(wait_until(lambda: senders.accepted_count() >= ACCEPTED_BEFORE_SIGNAL, timeout=30),
                        f"load did not start: {senders.outcome_counts()}")

        signalled = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        ready_after = self.wait_readyz_503(d.port, signalled)
        probe, probe_after = self.post_probe(d.port, ids[0], signalled)
        drain_readyz = self.poll_readyz_until_refused(d.port)
        closed = time.monotonic()

        try:
            code = d.proc.wait(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.fail(f"no exit {EXIT_TIMEOUT_S} s after SIGTERM; log:\n{d.log_tail()}")
        exited = time.monotonic()
        self.assertEqual(code, 0, f"exit code on SIGTERM; log:\n{d.log_tail()}")
        self.assertTrue(self.fake.wait_for(lambda f: f.inflight() == 0, 5), "the fake is still answering")
        accepted_then = senders.accepted() + ([probe] if probe.accepted_at else [])
        seen_then = load.Deliveries(self.fake)
        backlog = [w for w in accepted_then if not seen_then.delivered(w)]
        self.assertTrue(refused(d.port), "the port still answers after the exit")
        self.fake.set_put_delay(0)  # the backlog has done its job; let the next process clear it fast

        time.sleep(DOWN_S)  # the daemon is down: senders must meet refusals and retry
        d.start()
        time.sleep(LOAD_AFTER_RESTART_S)  # load on the new process, not an assertion
        senders.stop_new()
        self.assertTrue(senders.join(SEND_BUDGET_S), "senders still running at the deadline")

        webhooks = senders.webhooks()
        self.assertEqual([(w.token, w.failure) for w in webhooks if w.failure], [],
                         "answers that are neither 2xx nor retryable")
        self.assertEqual([w.token for w in webhooks if w.accepted_at is None], [],
                         "webhooks without a 2xx by the deadline")
        everything = webhooks + ([probe] if probe.accepted_at else [])
        seen = load.wait_delivered(self.fake, everything, DELIVERY_BUDGET_S)
        self.assertTrue(all(seen.delivered(w) for w in everything), load.missing_report(seen, everything))
        time.sleep(SETTLE_S)  # watching for duplicates, not asserting on timing
        seen = load.Deliveries(self.fake)
        self.assertEqual(seen.unmatched, [], "PUTs that carry no webhook's token")
        self.assertEqual(seen.wrong_target(everything), [], "PUTs to the wrong meeting")

        in_drain = [a for _, a in senders.attempts() if signalled <= a.start and a.end <= signalled +
                    DRAIN_DELAY_MS / 1000.0]
        refused_while_down = [(w, a) for w, a in senders.attempts() if exited <= a.start < exited + DOWN_S
                              and a.outcome == "refused"]
        after_close = [a for _, a in senders.attempts() if a.start < exited and a.end >= closed]
        self.report(senders, probe, ready_after, probe_after, drain_readyz, in_drain, after_close,
                    closed - signalled, exited - signalled,
                    accepted_then, backlog, refused_while_down, seen)

        self.assertQueued(probe.answer)
        self.assertEqual([a for a in in_drain if a.outcome == 503], [],
                         "webhooks answered 503 during the drain delay")
        self.assertTrue(any(a.outcome == 202 for a in in_drain), "no webhook accepted during the drain delay")
        self.assertTrue(backlog, "nothing was left undelivered at the exit: the test proved nothing "
                                 "about the hand-over")
        self.assertTrue(refused_while_down, "no sender met a refused connection while the daemon was down")
        for w, _ in refused_while_down:
            self.assertTrue(seen.delivered(w), f"{w.token} refused while down, never delivered")
        self.assertEqual(seen.duplicates(), {}, "a clean stop must not deliver anything twice")
        self.assertEqual(d.stop(), 0, f"exit code on the second SIGTERM; log:\n{d.log_tail()}")
        self.assertEqual(load.sanitizer_reports(d.log_text()), [], "sanitizer reports in the daemon's log")

    def test_idle_keep_alive_connection_does_not_hold_the_exit(self):
        """A load balancer keeps idle connections pooled; SIGTERM must close
        them instead of waiting out h2o's 10 s request timeout."""
        d = self.start_daemon(extra={"shutdown": {"drain_delay_ms": 200}})
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=IDLE_EXIT_TIMEOUT_S + 5)
        self.addCleanup(conn.close)
        conn.request("GET", "/healthz")
        answer = conn.getresponse()
        answer.read()
        self.assertEqual(answer.status, 200)
        self.assertFalse(answer.will_close, "the connection must stay open for this test")

        d.proc.send_signal(signal.SIGTERM)
        try:
            code = d.proc.wait(timeout=IDLE_EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.fail(f"no exit {IDLE_EXIT_TIMEOUT_S} s after SIGTERM with one idle connection open; "
                      f"log:\n{d.log_tail()}")
        self.assertEqual(code, 0, f"exit code on SIGTERM; log:\n{d.log_tail()}")
        self.assertEqual(conn.sock.recv(1), b"", "the server closed the idle connection")
        self.assertEqual(load.sanitizer_reports(d.log_text()), [], "sanitizer reports in the daemon's log")

    def wait_readyz_503(self, port, signalled):
        """Polls /readyz from the signal on; returns how long the 503 took."""
        answers = []
        while time.monotonic() - signalled < READYZ_DEADLINE_S:
            try:
                status, headers, _ = request(port, "GET", "/readyz", timeout=1)
            except OSError as exc:
                status, headers = type(exc).__name__, {}
            answers.append(status)
            if status == 503:
                self.assertIn("retry-after", headers)
                return time.monotonic() - signalled
            time.sleep(0.01)
        self.fail(f"/readyz did not answer 503 within {READYZ_DEADLINE_S} s of SIGTERM: {answers}")

    def post_probe(self, port, activity_id, signalled):
        """A webhook on a new connection to the draining node (checked at the
        end: it must have been accepted). Returns it and its answer's time."""
        probe = load.Webhook("probe", 0, activity_id)
        status, headers, body = request(port, "POST", f"/hooks/{load.LOAD_ROUTE}", body=probe.body,
                                        headers=probe.headers)
        after = time.monotonic() - signalled
        self.assertLess(after, DRAIN_DELAY_MS / 1000.0, "the probe came too late to test the drain delay")
        probe.attempts.append(load.Attempt(signalled + after, signalled + after, status))
        probe.answer = (status, headers, body)
        if 200 <= status < 300:
            probe.accepted_at = signalled + after
        return probe, after

    def poll_readyz_until_refused(self, port):
        """/readyz through the drain: 503 every time until the listener closes.
        Returns the statuses seen."""
        seen = []
        deadline = time.monotonic() + EXIT_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                status, _, _ = request(port, "GET", "/readyz", timeout=2)
            except ConnectionRefusedError:
                return seen
            except OSError as exc:
                status = type(exc).__name__  # the listener closing under us
            seen.append(status)
            self.assertIn(status, (503, "ConnectionResetError", "RemoteDisconnected"),
                          f"/readyz during the drain: {seen}")
            time.sleep(0.05)
        self.fail(f"the listener still accepted {EXIT_TIMEOUT_S} s after SIGTERM")

    @staticmethod
    def report(senders, probe, ready_after, probe_after, drain_readyz, in_drain, after_close, close_after,
               exit_after, accepted_then,
               backlog, refused_while_down, seen):
        def tally(attempts):
            out = {}
            for a in attempts:
                out[a.outcome] = out.get(a.outcome, 0) + 1
            return out
        out = [f"\nsigterm drain: {len(senders.webhooks())} webhooks, {SENDER_THREADS} senders at "
               f"{SEND_RATE}/s, drain_delay_ms {DRAIN_DELAY_MS}",
               f"  /readyz 503 after {ready_after * 1000:.0f} ms; probe webhook answered "
               f"{probe.answer[0]} {probe_after * 1000:.0f} ms after the signal",
               f"  /readyz polls until the listener closed ({close_after:.2f} s): {len(drain_readyz)}, all 503",
               f"  sender answers during the drain delay: {tally(in_drain)}; "
               f"ending between the close and the exit: {tally(after_close)}",
               f"  exit 0 after {exit_after:.2f} s; accepted by then {len(accepted_then)}, delivered "
               f"{len(accepted_then) - len(backlog)}, left for the next process {len(backlog)}",
               f"  refused while down: {len(refused_while_down)} attempt(s); "
               f"sender attempts by outcome: {senders.outcome_counts()}",
               f"  delivered in all: {len(seen.by_token)}, duplicates {len(seen.duplicates())}"]
        sys.stderr.write("\n".join(out) + "\n")


if __name__ == "__main__":
    harness.run()
