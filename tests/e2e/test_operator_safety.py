"""Operator safety (issue 10, items 9-11 and 17): no silent dry-run when a
credential's secret is missing, one `serve` per store, operator commands (dlq)
that work beside the daemon without its secrets, and no example placeholder id
(outcome_REPLACE_WITH_...) loaded as if it were real."""

import copy
import os
import re
import signal
import subprocess

import harness
from harness import E2ETestCase

CLI_TIMEOUT_S = 20
EXAMPLE_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "config",
                              "closehook.example.json")
# The example's routes verify signatures with these (values as run-example.sh's demo ones).
EXAMPLE_SECRETS = {"ZOOM_WEBHOOK_SECRET": "demo-zoom-secret", "NOTETAKER_WEBHOOK_SECRET": "demo-notetaker-secret",
                   "CALENDLY_SIGNING_KEY": "demo-calendly-signing-key",
                   "RECORDER_WEBHOOK_SECRET": "whsec_ZGVtby1yZWNvcmRlci13ZWJob29rLWtleQ==",
                   "GRAPH_CLIENT_STATE": "demo-graph-client-state",
                   "GOOGLE_CHANNEL_TOKEN": "demo-google-channel-token"}
PLACEHOLDER = "outcome_REPLACE_WITH_YOUR_SUMMARY_OUTCOME_ID"


def run(binary_args, env):
    return subprocess.run([harness.BINARY, *binary_args], capture_output=True, env=env, timeout=CLI_TIMEOUT_S,
                          text=True)


class OperatorSafety(E2ETestCase):
    def test_absent_credential_fails_check_config_and_serve(self):
        path = harness.write_config(self.tmp, harness.free_port(), self.fake.url)
        env = harness.daemon_env(api_key=False)
        check = run(["check-config", path], env)
        self.assertEqual(check.returncode, 1, check.stdout + check.stderr)
        self.assertIn("CLOSE_API_KEY", check.stderr)
        self.assertIn("credentials.close", check.stderr)
        serve = run(["serve", "--config", path], env)
        self.assertNotEqual(serve.returncode, 0)
        self.assertIn("CLOSE_API_KEY", serve.stderr)

    def test_second_serve_on_the_same_store_refuses(self):
        d = self.start_daemon()
        second = harness.write_config(self.tmp, harness.free_port(), self.fake.url,
                                      store_path=os.path.join(self.tmp, "q.db"), name="second.json")
        out = run(["serve", "--config", second], d.env)
        self.assertNotEqual(out.returncode, 0, "a second serve on the same store started")
        self.assertIn("in use by another closehook serve", out.stdout + out.stderr)
        self.assertTrue(d.running())
        # dlq beside the daemon does not take the lock.
        dlq = run(["dlq", "list", "--config", d.config_path], d.env)
        self.assertEqual(dlq.returncode, 0, dlq.stderr)

    def test_dlq_list_works_without_any_secret(self):
        d = self.start_daemon()
        bare = {k: v for k, v in d.env.items() if k not in ("CLOSE_API_KEY", "ZOOM_SECRET", "GENERIC_SECRET")}
        out = run(["dlq", "list", "--config", d.config_path], bare)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("no dead letters", out.stdout)

    def test_example_placeholders_fail_check_config_unless_allowed(self):
        env = harness.daemon_env(api_key=True, extra=EXAMPLE_SECRETS)
        check = run(["check-config", EXAMPLE_CONFIG], env)
        self.assertEqual(check.returncode, 1, check.stdout + check.stderr)
        first = re.search(r'closehook\.example\.json:(\d+): routes\[0\]\.rules\[0\]\.outcome_id: '
                          r'"(outcome_REPLACE_WITH_\w+)" is a placeholder', check.stderr)
        self.assertIsNotNone(first, check.stderr)
        with open(EXAMPLE_CONFIG, encoding="utf-8") as f:
            named = f.read().splitlines()[int(first.group(1)) - 1]
        self.assertIn(f'"outcome_id": "{first.group(2)}"', named, "the line named is not the value's")
        self.assertIn("--allow-placeholders", check.stderr)
        self.assertEqual(check.stderr.count("is a placeholder"), 6, check.stderr)
        allowed = run(["check-config", "--allow-placeholders", EXAMPLE_CONFIG], env)
        self.assertEqual(allowed.returncode, 0, allowed.stdout + allowed.stderr)
        self.assertIn(": ok (6 routes", allowed.stdout)
        self.assertIn("note: 6 placeholder value(s) accepted", allowed.stderr)
        self.assertIn(f"closehook.example.json:{first.group(1)}: routes[0].rules[0].outcome_id", allowed.stderr)

    def test_serve_refuses_placeholders_unless_allowed_and_reload_keeps_the_choice(self):
        routes = copy.deepcopy(harness.ROUTES)
        routes[0]["rules"][0]["outcome_id"] = PLACEHOLDER
        path = harness.write_config(self.tmp, harness.free_port(), self.fake.url, routes=routes)
        refused = run(["serve", "--config", path], harness.daemon_env())
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn(f'routes[0].rules[0].outcome_id: "{PLACEHOLDER}" is a placeholder', refused.stderr)
        d = self.start_daemon(routes=routes, serve_args=["--allow-placeholders"])
        warn = [e for e in d.logs() if e.get("msg", "").startswith("config still holds placeholder values")]
        self.assertEqual(len(warn), 1, d.log_tail())
        self.assertEqual(warn[0].get("placeholders"), "1")
        self.assertEqual(warn[0].get("level"), "warn")
        # A reload loads the file as the start did: placeholders still allowed.
        d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(harness.wait_until(lambda: "config reloaded" in d.log_text(), timeout=10), d.log_tail())


if __name__ == "__main__":
    harness.run()
