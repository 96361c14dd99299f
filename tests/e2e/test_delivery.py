"""Delivery against an unreliable Close: transient failures are retried until
one PUT succeeds, permanent ones are not retried, a 429's wait is honoured."""

import json
import time

import harness
from harness import E2ETestCase, FakeClose, CLOSE_API_KEY, MEETING_PATH, SETTLE_S, free_port

NOSHOW_BODY = {"outcome_id": "outcome_noshow",
               "user_note_html": "<p>Prospect did not join. Sent reschedule link &lt;2 min&gt; after start.</p>"}
# The fake's 429 says rate_reset 1.0 s; allow for clock granularity.
RATE_RESET_S = 1.0
RATE_RESET_SLACK_S = 0.1


class Delivery(E2ETestCase):
    def test_503_twice_then_success(self):
        self.fake.fail_next_puts([503, 503])
        d = self.start_daemon()
        self.assertQueued(self.send_generic(d, "generic/outcome.json"))
        (ok,) = self.wait_successful_puts(1)
        puts = self.fake.puts()
        self.assertEqual([p.status for p in puts], [503, 503, 200])
        for p in puts:
            self.assertClosePut(p, MEETING_PATH, NOSHOW_BODY)

    def test_zoom_event_retried_through_503(self):
        self.fake.fail_next_puts([503, 503])
        d = self.start_daemon()
        self.assertQueued(self.send_zoom(d, "zoom/meeting_ended.json"))
        self.wait_successful_puts(1)
        self.assertEqual([p.status for p in self.fake.puts()], [503, 503, 200])

    def test_404_is_permanent_and_not_retried(self):
        self.fake.set_put_status(404)
        d = self.start_daemon()
        self.assertQueued(self.send_generic(d, "generic/outcome.json"))
        self.assertTrue(self.fake.wait_for(lambda f: f.puts()), "no PUT attempt")
        time.sleep(SETTLE_S * 2)  # watching for retries, not asserting on timing
        self.assertEqual(len(self.fake.puts()), 1, self.fake.puts())

    def test_429_waits_for_rate_reset(self):
        self.fake.fail_next_puts([429])
        d = self.start_daemon()
        self.assertQueued(self.send_generic(d, "generic/outcome.json"))
        self.wait_successful_puts(1)
        first, second = self.fake.puts()
        self.assertEqual((first.status, second.status), (429, 200))
        self.assertGreaterEqual(second.time - first.time, RATE_RESET_S - RATE_RESET_SLACK_S,
                                "retried before the 429's rate_reset had passed")

    def test_updates_to_one_activity_go_out_in_acceptance_order(self):
        # README (delivery): updates to the same Close activity go out in
        # acceptance order. Holding the first PUT open makes a violation visible
        # deterministically: a second PUT to that activity while the first is unanswered.
        self.fake.hold_puts()
        d = self.start_daemon()
        first = json.loads(harness.sample("generic/outcome.json"))
        second = dict(first, id="evt_second", notes="second")
        self.assertQueued(self.send_generic(d, json.dumps(first).encode()))
        self.assertQueued(self.send_generic(d, json.dumps(second).encode()))
        self.assertTrue(self.fake.wait_for(lambda f: f.puts()), "no PUT attempt")
        time.sleep(SETTLE_S)  # watching for an overtaking PUT, not asserting on timing
        held = self.fake.puts()
        self.fake.release_puts()
        self.assertEqual(len(held), 1, f"second update sent while the first was in flight: {held}")
        puts = self.wait_successful_puts(2)
        self.assertEqual([p.json()["user_note_html"] for p in puts],
                         [NOSHOW_BODY["user_note_html"], "<p>second</p>"])

    def test_close_unreachable_then_up(self):
        port = free_port()
        d = self.start_daemon(close_url=f"http://127.0.0.1:{port}")
        self.assertQueued(self.send_generic(d, "generic/outcome.json"))
        # the daemon is now failing to connect; bring Close up on that port
        late = FakeClose(api_keys=[CLOSE_API_KEY], meetings=[harness.sample_meeting()], port=port).start()
        self.addCleanup(late.stop)
        late.wait_for(lambda f: f.successful_puts())
        self.assertEqual(len(late.successful_puts()), 1, late.requests())
        time.sleep(SETTLE_S)  # watching for extras, not asserting on timing
        self.assertEqual(len(late.puts()), 1, late.requests())
        self.assertClosePut(late.puts()[0], MEETING_PATH, NOSHOW_BODY)

    def test_bad_credentials_are_not_retried(self):
        d = self.start_daemon(env={"CLOSE_API_KEY": "api_revokedKey"})
        self.assertQueued(self.send_generic(d, "generic/outcome.json"))
        self.assertTrue(self.fake.wait_for(lambda f: f.puts()), "no PUT attempt")
        time.sleep(SETTLE_S * 2)  # watching for retries, not asserting on timing
        puts = self.fake.puts()
        self.assertEqual([p.status for p in puts], [401], puts)


if __name__ == "__main__":
    harness.run()
