"""SIGHUP reload (issue 6, test 6): a broken config is refused and the old
routes keep serving; a good one brings new routes in without a dropped
request."""

import copy
import json
import os
import signal
import threading
import time

import harness
from harness import E2ETestCase, ROUTES, GENERIC_SECRET


def outcome(event_id, notes="x"):
    doc = json.loads(harness.sample("generic/outcome.json"))
    doc.update(id=event_id, notes=notes)
    return json.dumps(doc).encode()


class Reload(E2ETestCase):
    def hup_and_wait_for(self, d, message):
        before = d.log_text().count(message)
        d.proc.send_signal(signal.SIGHUP)
        ok = harness.wait_until(lambda: d.log_text().count(message) > before, timeout=10)
        self.assertTrue(ok, f"no {message!r} line after SIGHUP; log:\n{d.log_tail()}")

    def rewrite(self, d, text):
        # Replaced atomically, as an operator's deploy tool would.
        tmp = d.config_path + ".new"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, d.config_path)

    def test_broken_config_is_refused_and_old_routes_keep_serving(self):
        d = self.start_daemon()
        self.rewrite(d, '{"routes": [ this is not json')
        self.hup_and_wait_for(d, "reload refused")
        self.assertTrue(d.running())
        self.assertQueued(self.send_generic(d, outcome("evt_after_broken")))
        self.wait_successful_puts(1)
        self.assertEqual(harness.request(d.port, "GET", "/readyz")[0], 200)

    def test_listener_change_is_refused(self):
        d = self.start_daemon()
        with open(d.config_path, encoding="utf-8") as f:
            cfg = json.loads(f.read().split("\n", 1)[1])  # after the comment line
        cfg["listen"][0]["port"] = harness.free_port()
        self.rewrite(d, json.dumps(cfg))
        self.hup_and_wait_for(d, "reload refused")
        self.assertQueued(self.send_generic(d, outcome("evt_same_port")))

    def test_new_oauth_credential_is_refused_until_a_restart(self):
        """Token state is made at start: a reload may not bring in an OAuth
        credential, or its routes' updates would be dead-lettered."""
        d = self.start_daemon(env={"CLOSE_OAUTH_ACCESS": "oauth_access_e2e", "CLOSE_OAUTH_REFRESH":
                                   "oauth_refresh_e2e", "CLOSE_OAUTH_SECRET": "oauth_client_secret_e2e"})
        with open(d.config_path, encoding="utf-8") as f:
            cfg = json.loads(f.read().split("\n", 1)[1])  # after the comment line
        cfg["credentials"]["partner"] = {"oauth": {
            "access_token": "env:CLOSE_OAUTH_ACCESS", "refresh_token": "env:CLOSE_OAUTH_REFRESH",
            "client_id": "oa2client_e2e", "client_secret": "env:CLOSE_OAUTH_SECRET"}}
        extra = copy.deepcopy(ROUTES[1])
        extra.update(name="extra", credential="partner")
        cfg["routes"].append(extra)
        self.rewrite(d, json.dumps(cfg))
        self.hup_and_wait_for(d, "reload refused")
        refusal = [line for line in d.logs() if line.get("msg", "").startswith("reload refused")][-1]
        self.assertIn("OAuth credential", refusal.get("reason", ""), refusal)
        self.assertEqual(self.send_generic(d, outcome("evt_oauth_extra"), route="extra")[0], 404)
        self.assertQueued(self.send_generic(d, outcome("evt_old_route")))
        self.wait_successful_puts(1)
        self.assertNotIn("oauth_refresh_e2e", d.log_text())
        self.assertNotIn("oauth_client_secret_e2e", d.log_text())

    def test_good_config_adds_a_route_without_dropping_a_request(self):
        d = self.start_daemon()
        self.assertEqual(self.send_generic(d, outcome("evt_early"), route="extra")[0], 404)

        # A sender keeps posting to the old route throughout the reload.
        answers, stop = [], threading.Event()

        def sender():
            i = 0
            while not stop.is_set():
                answers.append(self.send_generic(d, outcome(f"evt_steady_{i}"))[0])
                i += 1

        t = threading.Thread(target=sender)
        t.start()
        time.sleep(0.3)
        routes = copy.deepcopy(ROUTES)
        extra = copy.deepcopy(routes[1])
        extra["name"] = "extra"
        extra["rules"][0]["outcome_id"] = "outcome_extra"
        routes.append(extra)
        written = harness.write_config(self.tmp, d.port, self.fake.url, routes=routes)
        self.assertEqual(written, d.config_path)
        self.hup_and_wait_for(d, "config reloaded")
        time.sleep(0.3)
        stop.set()
        t.join()

        self.assertTrue(answers, "the sender sent nothing")
        self.assertEqual(set(answers), {202}, f"every request during the reload is accepted: {answers}")
        self.assertQueued(self.send_generic(d, outcome("evt_new_route"), route="extra"))
        puts = self.wait_successful_puts(len(answers) + 1, timeout=30)
        self.assertIn("outcome_extra", [json.loads(p.body)["outcome_id"] for p in puts])


if __name__ == "__main__":
    harness.run()
