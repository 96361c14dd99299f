"""A 202 is a promise: once closehook has acknowledged a webhook, the update
reaches Close even if the process is killed (SIGKILL) or stopped (SIGTERM)
before delivering it. Here no PUT ever succeeds before the stop, so the update
must arrive exactly once after the restart."""

import time

import harness
from harness import E2ETestCase, MEETING_PATH

ENDED_BODY = {"outcome_id": "outcome_held",
              "user_note_html": "<p>Zoom meeting Acme Corp — pricing follow-up ended after 42 min.</p>"}
NOSHOW_BODY = {"outcome_id": "outcome_noshow",
               "user_note_html": "<p>Prospect did not join. Sent reschedule link &lt;2 min&gt; after start.</p>"}
# The fake's handler threads finish quickly once released; this only bounds a hang.
FAKE_DRAIN_TIMEOUT_S = 5.0
# Several of the fake's 50 ms accept polls with no new request.
QUIET_S = 0.5


class Durability(E2ETestCase):
    def make_close_healthy(self):
        """Waits until the fake has answered everything the dead daemon sent, then heals it,
        so no success can be recorded for a request nobody read the answer to."""
        self.fake.release_puts()
        self.assertTrue(self.fake.wait_for(lambda f: f.inflight() == 0, FAKE_DRAIN_TIMEOUT_S))
        # A request the dead daemon wrote just before the kill may still sit in
        # the fake's accept queue (it polls every 50 ms): wait until no request
        # has come in for a while, or it would be answered 200 after the heal.
        quiet_since, seen = time.monotonic(), len(self.fake.requests())
        while time.monotonic() - quiet_since < QUIET_S:
            time.sleep(0.05)
            now_seen = len(self.fake.requests())
            if now_seen != seen or self.fake.inflight():
                quiet_since, seen = time.monotonic(), now_seen
        self.assertTrue(self.fake.wait_for(lambda f: f.inflight() == 0, FAKE_DRAIN_TIMEOUT_S))
        self.assertEqual(self.fake.successful_puts(), [], "a PUT succeeded before the stop")
        self.fake.set_put_status(None)

    def restart_and_expect_one(self, d, body):
        d.start()
        (put,) = self.wait_successful_puts(1)
        self.assertClosePut(put, MEETING_PATH, body)

    def test_sigkill_while_retrying(self):
        self.fake.set_put_status(503)
        d = self.start_daemon()
        self.assertQueued(self.send_zoom(d, "zoom/meeting_ended.json"))
        self.assertTrue(self.fake.wait_for(lambda f: f.puts()), "no PUT attempt before the kill")
        d.kill9()
        self.make_close_healthy()
        self.restart_and_expect_one(d, ENDED_BODY)

    def test_sigkill_with_the_put_in_flight(self):
        self.fake.set_put_status(503)
        self.fake.hold_puts()
        d = self.start_daemon()
        self.assertQueued(self.send_generic(d, "generic/outcome.json"))
        self.assertTrue(self.fake.wait_for(lambda f: f.puts()), "no PUT attempt before the kill")
        d.kill9()  # the row is inflight in the store now
        self.make_close_healthy()
        self.restart_and_expect_one(d, NOSHOW_BODY)

    def test_sigkill_right_after_the_202(self):
        self.fake.set_put_status(503)
        self.fake.hold_puts()
        d = self.start_daemon()
        answer = self.send_generic(d, "generic/outcome.json")
        d.kill9()
        self.assertQueued(answer)
        self.make_close_healthy()
        self.restart_and_expect_one(d, NOSHOW_BODY)

    def test_sigterm_leaves_undelivered_rows_for_the_next_start(self):
        self.fake.set_put_status(503)
        d = self.start_daemon()
        self.assertQueued(self.send_zoom(d, "zoom/meeting_ended.json"))
        self.assertTrue(self.fake.wait_for(lambda f: f.puts()), "no PUT attempt before the stop")
        self.assertEqual(d.stop(), 0, f"exit code on SIGTERM; log:\n{d.log_tail()}")
        self.make_close_healthy()
        self.restart_and_expect_one(d, ENDED_BODY)

    def test_duplicate_after_restart_is_still_a_duplicate(self):
        d = self.start_daemon()
        first = self.assertQueued(self.send_zoom(d, "zoom/meeting_ended.json"))
        self.wait_successful_puts(1)
        d.kill9()
        d.start()
        self.assertJSONAnswer(self.send_zoom(d, "zoom/meeting_ended.json"), 200,
                              status="duplicate", id=first["id"])
        self.wait_successful_puts(1)


if __name__ == "__main__":
    harness.run()
