"""Operator safety (issue 10, items 9-11): no silent dry-run when a
credential's secret is missing, one `serve` per store, and operator commands
(dlq) that work beside the daemon without its secrets."""

import os
import subprocess

import harness
from harness import E2ETestCase

CLI_TIMEOUT_S = 20


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


if __name__ == "__main__":
    harness.run()
