"""OAuth credentials through the real binary: a refused access token is
refreshed once, the rotated pair is committed to the store and used, a restart
takes the stored pair instead of the config's dead one, a token about to
expire is refreshed before use, a refused grant is a dead letter, and no token
ever appears in the daemon's log."""

import json
import os
import sqlite3

import harness
from harness import E2ETestCase, MEETING_PATH, wait_until

CONFIG_ACCESS = "cfg_access_e2e_7b2d9c41f0a3"
CONFIG_REFRESH = "cfg_refresh_e2e_5e8a1f6c2d94"
CLIENT_ID = "oa2client_e2e"
# A character a form body must escape, so a daemon that forgot would be refused.
CLIENT_SECRET = "client&secret=e2e+41c7"
OAUTH_ENV = {"CLOSE_OAUTH_ACCESS": CONFIG_ACCESS, "CLOSE_OAUTH_REFRESH": CONFIG_REFRESH,
             "CLOSE_OAUTH_CLIENT_SECRET": CLIENT_SECRET}
# The routes in harness.ROUTES use the credential called "close"; here it is OAuth.
OAUTH_CREDENTIALS = {"credentials": {"close": {"oauth": {
    "access_token": "env:CLOSE_OAUTH_ACCESS", "refresh_token": "env:CLOSE_OAUTH_REFRESH",
    "client_id": CLIENT_ID, "client_secret": "env:CLOSE_OAUTH_CLIENT_SECRET"}}}}
# Inside closehook's 60 s refresh margin: a token answered with this lifetime is
# refreshed again before its next use.
SHORT_EXPIRES_IN = 30


def outcome_body(event_id):
    """The generic sample with its own dedup id, so it is not a duplicate."""
    doc = json.loads(harness.sample("generic/outcome.json"))
    doc["id"] = event_id
    return json.dumps(doc).encode()


class OAuth(E2ETestCase):
    def setUp(self):
        super().setUp()
        self.fake.add_access_token(CONFIG_ACCESS)
        self.fake.expire_access_tokens()  # the config's access token is already dead

    def start_oauth_daemon(self):
        return self.start_daemon(api_key=False, env=OAUTH_ENV, extra=OAUTH_CREDENTIALS)

    def stored_pair(self):
        db = sqlite3.connect(os.path.join(self.tmp, "q.db"))
        try:
            return db.execute("SELECT access_token, refresh_token, expires_at FROM oauth_tokens"
                              " WHERE credential = 'close'").fetchone()
        finally:
            db.close()

    def bearer(self, rec):
        return rec.headers.get("authorization", "")

    def assertNoTokenLogged(self, daemons, also=()):
        secrets = [CONFIG_ACCESS, CONFIG_REFRESH, CLIENT_SECRET, *self.fake.access_tokens(),
                   *self.fake.refresh_tokens(), *also]
        for d in daemons:
            text = d.log_text()
            self.assertTrue(text, "empty daemon log")
            for s in secrets:
                self.assertNotIn(s, text, f"token in {d.log_path}")
            # not even handed to the log and caught by its redaction
            self.assertNotIn("[redacted]", text)

    def test_refused_token_is_refreshed_once_stored_and_reused_after_restart(self):
        self.fake.configure_oauth(CLIENT_ID, CLIENT_SECRET, CONFIG_REFRESH)
        d = self.start_oauth_daemon()
        self.assertQueued(self.send_generic(d, outcome_body("evt_oauth_1")))
        (put,) = self.wait_successful_puts(1)
        self.assertEqual([p.status for p in self.fake.puts()], [401, 200])
        self.assertEqual(self.fake.counts()["token"], 1)
        issued = [t for t in self.fake.access_tokens() if t != CONFIG_ACCESS]
        self.assertEqual(len(issued), 1)
        self.assertEqual(self.bearer(self.fake.puts()[0]), "Bearer " + CONFIG_ACCESS)
        self.assertEqual(self.bearer(put), "Bearer " + issued[0])
        self.assertEqual(put.path, MEETING_PATH)
        self.assertEqual(put.json()["outcome_id"], "outcome_noshow")
        first_refresh = self.fake.token_calls()[0].body.decode()
        self.assertIn("grant_type=refresh_token", first_refresh)
        self.assertIn("client_secret=client%26secret%3De2e%2B41c7", first_refresh)
        self.assertEqual(d.stop(), 0, f"exit code on SIGTERM; log:\n{d.log_tail()}")

        # the rotated pair is in the store: the config's refresh token is dead now
        access, refresh, expires_at = self.stored_pair()
        self.assertEqual(access, issued[0])
        self.assertEqual(self.fake.refresh_tokens(), {refresh})
        self.assertNotEqual(refresh, CONFIG_REFRESH)
        self.assertGreater(expires_at, 0)
        rotated_refresh = refresh

        # a restart uses the stored pair: no refresh, the same bearer
        d2 = self.start_oauth_daemon()
        self.assertQueued(self.send_generic(d2, outcome_body("evt_oauth_2")))
        self.wait_successful_puts(2)
        self.assertEqual(self.fake.counts()["token"], 1)
        self.assertEqual(self.bearer(self.fake.puts()[-1]), "Bearer " + issued[0])
        self.assertTrue(any(l.get("msg", "").startswith("oauth: using the stored token pair")
                            for l in d2.logs()), d2.log_tail())
        self.assertTrue(any(l.get("msg") == "oauth: access token refreshed" for l in d.logs()), d.log_tail())
        self.assertNoTokenLogged([d, d2], also=[rotated_refresh])

    def test_token_about_to_expire_is_refreshed_before_use(self):
        self.fake.configure_oauth(CLIENT_ID, CLIENT_SECRET, CONFIG_REFRESH, expires_in=SHORT_EXPIRES_IN)
        d = self.start_oauth_daemon()
        self.assertQueued(self.send_generic(d, outcome_body("evt_oauth_1")))
        self.wait_successful_puts(1)
        self.assertEqual(self.fake.counts()["token"], 1)
        self.assertQueued(self.send_generic(d, outcome_body("evt_oauth_2")))
        self.wait_successful_puts(2)
        # no 401 this time: the refresh came first
        self.assertEqual([p.status for p in self.fake.puts()], [401, 200, 200])
        self.assertEqual(self.fake.counts()["token"], 2)
        issued = [t for t in self.fake.access_tokens() if t != CONFIG_ACCESS]
        self.assertEqual(self.bearer(self.fake.puts()[-1]), "Bearer " + issued[-1])
        self.assertEqual(self.stored_pair()[0], issued[-1])
        self.assertNoTokenLogged([d])

    def test_refused_grant_is_a_dead_letter(self):
        self.fake.configure_oauth(CLIENT_ID, CLIENT_SECRET, "a_refresh_token_closehook_never_had")
        d = self.start_oauth_daemon()
        self.assertQueued(self.send_generic(d, outcome_body("evt_oauth_1")))

        def dead_letters():
            return [l for l in d.logs() if l.get("msg") == "dead letter"]
        dead = wait_until(dead_letters)
        self.assertTrue(dead, d.log_tail())
        self.assertTrue(dead[0]["reason"].startswith("oauth refresh failed: HTTP 400: invalid_grant"),
                        dead[0]["reason"])
        self.assertEqual([p.status for p in self.fake.puts()], [401])
        self.assertEqual(self.fake.counts()["token"], 1)
        self.assertIsNone(self.stored_pair())
        self.assertNoTokenLogged([d])


if __name__ == "__main__":
    harness.run()
