"""Credentials echoed by Close are never kept or logged (issue 10, item 7).

An upstream that echoes the request (the Authorization header, the raw key in
a JSON error) must not put the credential into the dead letters, `dlq show` or
the daemon's log in any spelling: raw, the Basic header's base64 of "key:"
(padded or not, URL-safe), the base64 of the key alone."""

import base64
import json
import subprocess
import urllib.parse

import harness
from harness import CLOSE_API_KEY, E2ETestCase

CLI_TIMEOUT_S = 30
ECHO_TEXT = "Invalid request."


def spellings(secret):
    """Every form of secret an echo could carry."""
    out = {secret, urllib.parse.quote(secret, safe="")}
    for raw in (secret.encode(), (secret + ":").encode()):
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            text = enc(raw).decode()
            out.update({text, text.rstrip("=")})
    return out


def echo(status):
    """A Close answer that echoes what the daemon sent it."""
    def answer(rec):
        return status, {"error": ECHO_TEXT,
                        "request": {"authorization": rec.headers.get("authorization"),
                                    "api_key": CLOSE_API_KEY,
                                    "basic_of_key": base64.b64encode(CLOSE_API_KEY.encode()).decode(),
                                    "form": "api_key=" + urllib.parse.quote(CLOSE_API_KEY)}}, {}
    return answer


class Redaction(E2ETestCase):
    def dlq(self, daemon, *args):
        out = subprocess.run([harness.BINARY, "dlq", *args, "--config", daemon.config_path],
                             capture_output=True, env=daemon.env, timeout=CLI_TIMEOUT_S)
        self.assertEqual(out.returncode, 0, f"dlq {args}: {out.stdout!r} {out.stderr!r}")
        self.assertNoSecret(f"dlq {args[0]}'s stderr", out.stderr.decode("utf-8"))
        return out.stdout.decode("utf-8")

    def assertNoSecret(self, where, text):
        for s in spellings(CLOSE_API_KEY):
            self.assertNotIn(s, text, f"{where} holds a spelling of the API key")

    def test_dead_letter_and_log_hold_no_spelling_of_the_key(self):
        self.fake.set_put_answer(echo(400))
        d = self.start_daemon()
        self.assertQueued(self.send_generic(d, "generic/outcome.json"))
        rows = harness.wait_until(lambda: json.loads(self.dlq(d, "list", "--json")) or None)
        self.assertTrue(rows, f"no dead letter; fake saw {self.fake.requests()}")
        (put,) = self.fake.puts()
        self.assertEqual(put.status, 400)
        self.assertEqual(put.headers.get("authorization"), harness.basic_auth(CLOSE_API_KEY))
        row_id = str(rows[0]["id"])

        shown = self.dlq(d, "show", row_id)
        shown_json = self.dlq(d, "show", row_id, "--json")
        listing = self.dlq(d, "list")
        for where, text in (("dlq show", shown), ("dlq show --json", shown_json), ("dlq list", listing),
                            ("the log", d.log_text())):
            self.assertNoSecret(where, text)
        error = json.loads(shown_json)["error"]
        self.assertIn("HTTP 400", error)
        self.assertIn(ECHO_TEXT, error, "Close's own words are kept")
        self.assertIn("[redacted]", error)
        self.assertTrue([line for line in d.logs() if line.get("msg") == "dead letter"], d.log_tail())

    def test_retry_reason_in_the_log_holds_no_spelling_of_the_key(self):
        answers = [echo(503)]  # the first PUT; then Close applies it
        self.fake.set_put_answer(lambda rec: answers.pop()(rec) if answers else None)
        d = self.start_daemon()
        self.assertQueued(self.send_generic(d, "generic/outcome.json"))
        self.wait_successful_puts(1)
        retries = [line for line in d.logs() if line.get("msg") == "retry"]
        self.assertTrue(retries, d.log_tail())
        self.assertIn("[redacted]", retries[0]["reason"])
        self.assertNoSecret("the log", d.log_text())


if __name__ == "__main__":
    harness.run()
