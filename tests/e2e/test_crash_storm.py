"""Issue 6, fault test 1: a 2xx is a promise that survives crashes. 2,000
generic webhooks are sent by concurrent senders (keep-alive, retrying like a
real sender) while the daemon is SIGKILLed and restarted three times on the
same store. Every webhook ends with a 2xx and every one must reach Close. A
webhook may be PUT twice only when a kill fell between its PUT and the commit
of "done": at most one per delivery worker per kill. The test prints the
throughput and the duplicates per kill."""

import sys
import time

import harness
import load
from harness import E2ETestCase, wait_until

TOTAL = 2000
SENDER_THREADS = 8
WORKERS = 4
# The kills fall when these shares of the webhooks have been accepted, so they
# are spread over the sending and each lands mid-load.
KILL_AT = (0.2, 0.5, 0.8)
# How long the daemon stays dead: senders see refused connections and retry.
DOWN_S = 0.3
# Budgets: sending all 2,000 (restarts included) and delivering the rest after.
SEND_BUDGET_S = 120.0
DELIVERY_BUDGET_S = 60.0
# After the last delivery, watch this long for late duplicates (several of the
# config's retry_max_ms).
SETTLE_S = 2.0


class Kill:
    def __init__(self, at, accepted):
        self.at = at
        self.accepted = accepted
        self.respawn_at = None  # no PUT recorded before this came from the new process
        self.duplicates = []


class CrashStorm(E2ETestCase):
    def test_2000_webhooks_through_three_sigkills(self):
        ids = load.activity_ids()
        load.add_meetings(self.fake, harness.sample_meeting(), ids)
        d = self.start_daemon(routes=load.LOAD_ROUTES,
                              delivery={"workers": WORKERS, "retry_initial_ms": 50, "retry_max_ms": 500},
                              extra={"shutdown": {"drain_delay_ms": 200}})
        senders = load.Senders(lambda: d.port, ids, "storm", SENDER_THREADS,
                               time.monotonic() + SEND_BUDGET_S, limit=TOTAL).start()
        kills = []
        for share in KILL_AT:
            reached = wait_until(lambda: senders.accepted_count() >= share * TOTAL, timeout=SEND_BUDGET_S)
            self.assertTrue(reached, f"only {senders.accepted_count()} accepted before kill {len(kills) + 1}")
            kill = Kill(time.monotonic(), senders.accepted_count())
            d.kill9()
            kills.append(kill)
            time.sleep(DOWN_S)  # the daemon is down: senders must see refusals and retry
            kill.respawn_at = time.monotonic()
            d.start()

        self.assertTrue(senders.join(SEND_BUDGET_S), "senders still running at the deadline")
        sent_s = time.monotonic() - senders.started_at
        webhooks = senders.webhooks()
        self.assertEqual(len(webhooks), TOTAL)
        failed = [(w.token, w.failure) for w in webhooks if w.failure]
        self.assertEqual(failed, [], "answers that are neither 2xx nor retryable")
        unaccepted = [w.token for w in webhooks if w.accepted_at is None]
        self.assertEqual(unaccepted, [], "webhooks without a 2xx by the deadline")

        seen = load.wait_delivered(self.fake, webhooks, DELIVERY_BUDGET_S)
        self.assertTrue(all(seen.delivered(w) for w in webhooks), load.missing_report(seen, webhooks))
        delivered_s = time.monotonic() - senders.started_at
        time.sleep(SETTLE_S)  # watching for late duplicates, not asserting on timing
        seen = load.Deliveries(self.fake)
        self.assertEqual(seen.unmatched, [], "PUTs that carry no webhook's token")
        self.assertEqual(seen.wrong_target(webhooks), [], "PUTs to the wrong meeting")

        self.attribute_duplicates(seen, kills)
        self.report(webhooks, senders, kills, seen, sent_s, delivered_s)
        for i, kill in enumerate(kills, 1):
            self.assertLessEqual(len(kill.duplicates), WORKERS,
                                 f"kill {i}: more duplicates than delivery workers: {kill.duplicates}")
        self.assertEqual(d.stop(), 0, f"exit code on SIGTERM after the storm; log:\n{d.log_tail()}")
        self.assertEqual(load.sanitizer_reports(d.log_text()), [], "sanitizer reports in the daemon's log")

    def attribute_duplicates(self, seen, kills):
        """Gives each repeated PUT to the kill that explains it: the last kill
        before the repeat, provided the earlier PUT came from the killed process
        (it reached the fake before the new process was spawned). A repeat no
        kill explains fails the test."""
        for token, recs in sorted(seen.duplicates().items()):
            recs = sorted(recs, key=lambda r: r.time)
            for earlier, later in zip(recs, recs[1:]):
                before = [k for k in kills if k.at <= later.time]
                culprit = before[-1] if before and earlier.time < before[-1].respawn_at else None
                self.assertIsNotNone(culprit, f"{token} PUT again with no kill in between: {recs}")
                culprit.duplicates.append(f"{token} (PUT {earlier.time - culprit.at:+.2f} s / "
                                          f"{later.time - culprit.at:+.2f} s from the kill)")

    @staticmethod
    def report(webhooks, senders, kills, seen, sent_s, delivered_s):
        redelivered_answers = sum(1 for w in webhooks if (w.answer or {}).get("status") == "duplicate")
        retried = sum(1 for w in webhooks if len(w.attempts) > 1)
        out = [f"\ncrash storm: {len(webhooks)} webhooks, {SENDER_THREADS} senders, {WORKERS} workers",
               f"  accepted all in {sent_s:.1f} s ({len(webhooks) / sent_s:.0f}/s, {len(kills)} restarts included)",
               f"  delivered all in {delivered_s:.1f} s ({len(seen.by_token) / delivered_s:.0f}/s)",
               f"  sender attempts by outcome: {senders.outcome_counts()}",
               f"  webhooks retried by their sender: {retried}; "
               f"answered 'duplicate' (stored before the kill, answer lost): {redelivered_answers}"]
        for i, kill in enumerate(kills, 1):
            out.append(f"  kill {i}: after {kill.accepted} accepted; duplicates {len(kill.duplicates)} "
                       f"{kill.duplicates}")
        out.append(f"  duplicates total: {sum(len(k.duplicates) for k in kills)} (bound {len(kills) * WORKERS})")
        sys.stderr.write("\n".join(out) + "\n")


if __name__ == "__main__":
    harness.run()
