"""Backpressure (issue 6, test 7): when the store is full or the backlog is past
its high-water mark, closehook answers 503 with Retry-After instead of
accepting what it cannot keep; the store stays intact, and it accepts again
once space returns."""

import json
import os
import sqlite3

import harness
from harness import E2ETestCase, GENERIC_SECRET


def outcome(event_id, notes):
    doc = json.loads(harness.sample("generic/outcome.json"))
    doc.update(id=event_id, notes=notes)
    return json.dumps(doc).encode()


def integrity(store):
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


class Backpressure(E2ETestCase):
    def send(self, d, event_id, notes="x"):
        return self.send_generic(d, outcome(event_id, notes))

    def assertRefusedForNow(self, answer):
        status, headers, body = answer
        self.assertEqual(status, 503, body)
        self.assertEqual(headers.get("retry-after"), "5")
        self.assertEqual(json.loads(body)["error"], "unavailable")

    def test_full_store_answers_503_stays_intact_and_recovers(self):
        store = os.path.join(self.tmp, "q.db")
        d = self.start_daemon(extra={"store": {"path": store, "max_size_mb": 1, "done_retention_s": 1}})
        self.fake.set_put_status(503)  # nothing leaves the store for now
        big = "n" * 20000  # each row carries the rendered note twice (body and payload)
        accepted, refused = [], None
        for i in range(200):
            answer = self.send(d, f"evt_full_{i}", big)
            if answer[0] == 202:
                accepted.append(f"evt_full_{i}")
                continue
            refused = answer
            break
        self.assertIsNotNone(refused, "a 1 MiB store never filled up")
        self.assertGreater(len(accepted), 5)
        self.assertRefusedForNow(refused)
        self.assertEqual(integrity(store), "ok")

        # Close comes back: the backlog drains, delivered rows age out of the
        # dedup memory, their pages are reused, and new webhooks are accepted.
        self.fake.set_put_status(None)
        self.wait_successful_puts(len(accepted), timeout=60)
        ok = harness.wait_until(lambda: self.send(d, "evt_after_recovery", big)[0] == 202, timeout=30,
                                interval=0.5)
        self.assertTrue(ok, "no 202 after the backlog drained")
        self.wait_successful_puts(len(accepted) + 1, timeout=30)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(integrity(store), "ok")

    def test_backlog_past_max_pending_answers_503_until_it_drains(self):
        d = self.start_daemon(extra={"store": {"path": os.path.join(self.tmp, "q.db"), "max_pending": 5}})
        self.fake.set_put_status(503)
        answers = [self.send(d, f"evt_backlog_{i}") for i in range(8)]
        self.assertEqual([a[0] for a in answers[:5]], [202] * 5)
        for answer in answers[5:]:
            self.assertRefusedForNow(answer)
        self.fake.set_put_status(None)
        self.wait_successful_puts(5)
        ok = harness.wait_until(lambda: self.send(d, "evt_backlog_late")[0] == 202, timeout=15, interval=0.3)
        self.assertTrue(ok, "still refusing after the backlog drained")
        self.wait_successful_puts(6)


if __name__ == "__main__":
    harness.run()
