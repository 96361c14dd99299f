"""Dead letters and replay (issue 6, fault test 4): a permanent 404 from Close
lands in the dead-letter list with Close's body; once Close is fixed, a replay
delivers it exactly once. The same through the admin API, which refuses every
request without its bearer token; purge deletes dead rows by age."""

import json
import subprocess

import harness
from harness import E2ETestCase, MEETING_PATH, SAMPLE_ACTIVITY_ID, free_port, parse_json, request

ADMIN_TOKEN = "admin-e2e-token-0123456789abcdef"
# What the fake answers for an activity it does not have (fake_close.NOT_FOUND_BODY).
CLOSE_404_TEXT = "Activity matching query does not exist."
NOSHOW_BODY = {"outcome_id": "outcome_noshow",
               "user_note_html": "<p>Prospect did not join. Sent reschedule link &lt;2 min&gt; after start.</p>"}
CLI_TIMEOUT_S = 30


def outcome(event_id, notes):
    """The generic sample under a new sender id (a new delivery, not a duplicate)."""
    doc = json.loads(harness.sample("generic/outcome.json"))
    doc.update(id=event_id, notes=notes)
    return json.dumps(doc).encode()


class DeadLetters(E2ETestCase):
    with_admin = False
    admin_port = None

    def config_writer(self, close_url=None, **kw):
        """Adds the admin section with a fresh port for every start attempt (the
        harness retries on another port when a bind fails)."""
        if not self.with_admin:
            return super().config_writer(close_url, **kw)
        url = close_url or self.fake.url

        def make(port):
            self.admin_port = free_port()
            admin = {"listen": {"host": "127.0.0.1", "port": self.admin_port}, "token": "env:ADMIN_TOKEN"}
            return harness.write_config(self.tmp, port, url, extra={"admin": admin}, **kw)
        return make

    def start(self, admin=False):
        self.with_admin = admin
        return self.start_daemon(env={"ADMIN_TOKEN": ADMIN_TOKEN})

    # -- the command line --

    def dlq(self, daemon, *args, expect_rc=0):
        out = subprocess.run([harness.BINARY, "dlq", *args, "--config", daemon.config_path],
                             capture_output=True, env=daemon.env, timeout=CLI_TIMEOUT_S)
        self.assertEqual(out.returncode, expect_rc,
                         f"dlq {' '.join(args)}: stdout {out.stdout!r} stderr {out.stderr!r}")
        return out.stdout.decode("utf-8"), out.stderr.decode("utf-8")

    def dead(self, daemon):
        return json.loads(self.dlq(daemon, "list", "--json")[0])

    def wait_dead(self, daemon, n):
        rows = harness.wait_until(lambda: (lambda r: r if len(r) >= n else None)(self.dead(daemon)))
        self.assertTrue(rows, f"fewer than {n} dead letter(s); fake saw {self.fake.requests()}")
        self.assertEqual(len(rows), n, rows)
        return rows

    # -- the admin API --

    def admin(self, method, path, token=ADMIN_TOKEN):
        headers = {"Authorization": "Bearer " + token} if token is not None else {}
        return request(self.admin_port, method, path, headers=headers)

    def admin_json(self, method, path, code=200):
        status, headers, body = self.admin(method, path)
        self.assertEqual(status, code, body)
        self.assertTrue(headers.get("content-type", "").startswith("application/json"), headers)
        return parse_json(body)

    def assertDead404(self, row):
        """The row Close refused: the generic route, one attempt, Close's own words."""
        self.assertEqual(row["route"], "notetaker")
        self.assertEqual(row["credential"], "close")
        self.assertEqual(row["attempts"], 1)
        self.assertIn("404", row["error"])
        self.assertIn(CLOSE_404_TEXT, row["error"])

    # -- tests --

    def test_404_dead_letter_then_replay_after_the_fix(self):
        self.fake.remove_meeting(SAMPLE_ACTIVITY_ID)
        d = self.start()
        self.assertQueued(self.send_generic(d, "generic/outcome.json"))
        (row,) = self.wait_dead(d, 1)
        self.assertDead404(row)
        self.assertEqual([p.status for p in self.fake.puts()], [404], "a 404 is not retried")
        row_id = str(row["id"])

        table, _ = self.dlq(d, "list")
        header, line = table.splitlines()
        self.assertEqual(header.split(), ["ID", "ROUTE", "ATTEMPTS", "AGE", "ERROR"])
        self.assertEqual(line.split()[:3], [row_id, "notetaker", "1"])
        self.assertIn("404", line)

        shown = json.loads(self.dlq(d, "show", row_id, "--json")[0])
        self.assertEqual(shown["state"], "dead")
        self.assertDead404(shown)
        self.assertEqual(shown["update"]["activity_id"], SAMPLE_ACTIVITY_ID)
        self.assertEqual(shown["update"]["body"], NOSHOW_BODY)
        text, _ = self.dlq(d, "show", row_id)
        for expected in (SAMPLE_ACTIVITY_ID, CLOSE_404_TEXT, "outcome_noshow", "notetaker"):
            self.assertIn(expected, text)

        self.fake.add_meeting(harness.sample_meeting())  # Close is fixed
        out, _ = self.dlq(d, "replay", row_id)
        self.assertEqual(out.strip(), "replayed 1")
        (put,) = self.wait_successful_puts(1)
        self.assertClosePut(put, MEETING_PATH, NOSHOW_BODY)
        self.assertEqual(self.dead(d), [])
        self.assertEqual(json.loads(self.dlq(d, "show", row_id, "--json")[0])["state"], "done")
        _, err = self.dlq(d, "replay", row_id, expect_rc=1)
        self.assertIn("not a dead letter", err)

    def test_command_errors(self):
        d = self.start()
        _, err = self.dlq(d, "show", "999999", expect_rc=1)
        self.assertIn("no row 999999", err)
        self.dlq(d, "show", "abc", expect_rc=2)
        self.dlq(d, "replay", expect_rc=2)
        self.dlq(d, "purge", expect_rc=2)
        self.dlq(d, "purge", "--older-than", "3 days", expect_rc=2)
        self.dlq(d, "frobnicate", expect_rc=2)
        self.assertEqual(self.dlq(d, "list")[0].strip(), "no dead letters")

    def test_admin_api_lists_shows_and_replays_with_the_token_only(self):
        self.fake.remove_meeting(SAMPLE_ACTIVITY_ID)
        d = self.start(admin=True)
        self.assertQueued(self.send_generic(d, "generic/outcome.json"))
        listing = harness.wait_until(lambda: (lambda doc: doc if doc["count"] else None)(
            self.admin_json("GET", "/admin/dlq")))
        self.assertTrue(listing, f"no dead letter; fake saw {self.fake.requests()}")
        (row,) = listing["dead_letters"]
        self.assertDead404(row)
        row_id = row["id"]

        for token in (None, "wrong-token-0123456789abcdef", ADMIN_TOKEN + "x", ""):
            for method, path in (("GET", "/admin/dlq"), ("GET", f"/admin/dlq/{row_id}"),
                                 ("POST", f"/admin/dlq/{row_id}/replay"), ("POST", "/admin/dlq/replay"),
                                 ("DELETE", "/admin/dlq?older_than=0s"), ("GET", "/admin/nothing")):
                answer = self.admin(method, path, token=token)
                self.assertJSONAnswer(answer, 401, error="unauthorized")
                self.assertTrue(answer[1].get("www-authenticate", "").startswith("Bearer"), answer[1])
        self.assertEqual(self.admin_json("GET", "/admin/dlq")["count"], 1, "a refused request changed nothing")

        shown = self.admin_json("GET", f"/admin/dlq/{row_id}")
        self.assertEqual(shown["state"], "dead")
        self.assertEqual(shown["update"]["activity_id"], SAMPLE_ACTIVITY_ID)
        self.assertEqual(shown["update"]["body"], NOSHOW_BODY)
        self.admin_json("GET", "/admin/dlq/999999", code=404)
        self.admin_json("GET", "/admin/nothing", code=404)
        self.admin_json("PUT", "/admin/dlq", code=405)

        self.fake.add_meeting(harness.sample_meeting())
        self.assertEqual(self.admin_json("POST", f"/admin/dlq/{row_id}/replay"), {"replayed": 1})
        (put,) = self.wait_successful_puts(1)
        self.assertClosePut(put, MEETING_PATH, NOSHOW_BODY)
        self.assertEqual(self.admin_json("GET", "/admin/dlq"), {"dead_letters": [], "count": 0})
        self.admin_json("POST", f"/admin/dlq/{row_id}/replay", code=404)

    def test_replay_all_and_purge_by_age(self):
        self.fake.remove_meeting(SAMPLE_ACTIVITY_ID)
        d = self.start(admin=True)
        self.assertQueued(self.send_generic(d, outcome("evt_a", "first")))
        self.assertQueued(self.send_generic(d, outcome("evt_b", "second")))
        self.wait_dead(d, 2)

        # Replaying everything while Close is still broken: both go out again, both die again.
        self.assertEqual(self.admin_json("POST", "/admin/dlq/replay?route=other"), {"replayed": 0})
        self.assertEqual(self.dlq(d, "replay", "--all", "--route", "notetaker")[0].strip(), "replayed 2")
        self.assertTrue(self.fake.wait_for(lambda f: len(f.puts()) >= 4), self.fake.requests())
        for row in self.wait_dead(d, 2):
            self.assertEqual(row["attempts"], 1, "a replay starts the attempts over")

        self.admin_json("DELETE", "/admin/dlq", code=400)  # older_than is required
        self.admin_json("DELETE", "/admin/dlq?older_than=soon", code=400)
        self.assertEqual(self.admin_json("DELETE", "/admin/dlq?older_than=1h"), {"purged": 0})
        self.assertEqual(self.dlq(d, "purge", "--older-than", "30d")[0].strip(), "purged 0")
        self.assertEqual(self.dlq(d, "purge", "--older-than", "0s")[0].strip(), "purged 2")
        self.assertEqual(self.dead(d), [])
        self.assertEqual(self.admin_json("DELETE", "/admin/dlq?older_than=0s"), {"purged": 0})
        self.assertEqual(len(self.fake.successful_puts()), 0)


if __name__ == "__main__":
    harness.run()
