"""Dry-run, asked for with `serve --dry-run`: a route whose Close credential is
absent (CLOSE_API_KEY unset) still accepts webhooks, but logs the PUT it would send instead of calling
Close, so a new deployment can be checked before it has a key."""

import json
import signal
import time

import harness
from harness import E2ETestCase, SETTLE_S, CLOSE_API_KEY

ENDED_BODY = {"outcome_id": "outcome_held",
              "user_note_html": "<p>Zoom meeting Acme Corp — pricing follow-up ended after 42 min.</p>"}


def holds_body(value, body):
    """True when a log field is the body, as an object or as JSON text."""
    if value == body:
        return True
    if isinstance(value, str):
        try:
            return json.loads(value) == body
        except ValueError:
            return False
    return False


class DryRun(E2ETestCase):
    def dry_run_lines(self, d):
        return [line for line in d.logs() if "dry-run" in str(line.get("msg", ""))]

    def test_absent_key_logs_the_put_instead_of_sending_it(self):
        d = self.start_daemon(api_key=False, serve_args=["--dry-run"])
        self.assertQueued(self.send_zoom(d, "zoom/meeting_ended.json"))
        found = harness.wait_until(
            lambda: [line for line in self.dry_run_lines(d)
                     if any(holds_body(v, ENDED_BODY) for v in line.values())])
        self.assertTrue(found, "no log line with msg containing 'dry-run' and the PUT body; "
                               f"dry-run lines: {self.dry_run_lines(d)}")
        time.sleep(SETTLE_S)  # watching for requests, not asserting on timing
        self.assertEqual(self.fake.requests(), [], "dry-run must not call Close at all")
        self.assertNotIn(CLOSE_API_KEY, d.log_text())

    def test_absent_key_generic_event(self):
        d = self.start_daemon(api_key=False, serve_args=["--dry-run"])
        self.assertQueued(self.send_generic(d, "generic/outcome.json"))
        body = {"outcome_id": "outcome_noshow",
                "user_note_html": "<p>Prospect did not join. Sent reschedule link &lt;2 min&gt; after start.</p>"}
        found = harness.wait_until(
            lambda: [line for line in self.dry_run_lines(d)
                     if any(holds_body(v, body) for v in line.values())])
        self.assertTrue(found, f"dry-run lines: {self.dry_run_lines(d)}")
        time.sleep(SETTLE_S)  # watching for requests, not asserting on timing
        self.assertEqual(self.fake.requests(), [])

    def test_sighup_reloads_under_dry_run_with_the_key_still_absent(self):
        """A reload loads the config the way serve did: still dry-run, the
        absent key still allowed (it used to be refused on every SIGHUP)."""
        d = self.start_daemon(api_key=False, serve_args=["--dry-run"])
        d.proc.send_signal(signal.SIGHUP)
        reloaded = harness.wait_until(lambda: any(line.get("msg") == "config reloaded" for line in d.logs()),
                                      timeout=10)
        self.assertTrue(reloaded, f"no reload; log:\n{d.log_tail()}")
        self.assertEqual([line for line in d.logs() if "reload refused" in str(line.get("msg"))], [])
        self.assertQueued(self.send_zoom(d, "zoom/meeting_ended.json"))
        self.assertTrue(harness.wait_until(lambda: self.dry_run_lines(d)), "still dry-run after the reload")
        time.sleep(SETTLE_S)  # watching for requests, not asserting on timing
        self.assertEqual(self.fake.requests(), [])


class Secrets(E2ETestCase):
    def test_no_secret_in_the_log(self):
        d = self.start_daemon()
        self.assertQueued(self.send_zoom(d, "zoom/meeting_ended.json"))
        self.send_zoom(d, "zoom/meeting_ended.json", secret="wrong-secret")
        self.wait_successful_puts(1)
        d.stop()
        text = d.log_text()
        for secret in (harness.CLOSE_API_KEY, harness.ZOOM_SECRET, harness.GENERIC_SECRET,
                       harness.basic_auth(harness.CLOSE_API_KEY).split()[1]):
            self.assertNotIn(secret, text)


if __name__ == "__main__":
    harness.run()
