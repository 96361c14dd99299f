"""Close's 2xx is done whatever its body (issue 10, item 16).

Close (or a proxy) answering a PUT 200 with a 10 MiB body had applied the
update; the daemon must count it delivered after that one PUT, reading no
more of the body than it needs, and never send it again."""

import json
import subprocess

import harness
from harness import E2ETestCase, SAMPLE_ACTIVITY_ID

HUGE = 10 * 1024 * 1024


class HugeAnswer(E2ETestCase):
    def test_put_200_with_10_mib_body_is_done_after_one_put(self):
        pad = "x" * HUGE
        self.fake.set_put_answer(lambda rec: (200, {"id": SAMPLE_ACTIVITY_ID, "pad": pad}, {}))
        d = self.start_daemon()
        self.assertQueued(self.send_generic(d, "generic/outcome.json"))
        (put,) = self.wait_successful_puts(1)
        self.assertEqual(len(self.fake.puts()), 1, self.fake.requests())
        logs = d.logs()
        self.assertEqual([line for line in logs if line.get("msg") == "retry"], [], d.log_tail())
        (delivered,) = [line for line in logs if line.get("msg") == "delivered"]
        self.assertEqual(delivered["status"], 200, "a JSON number in the log line")
        out = subprocess.run([harness.BINARY, "dlq", "show", str(delivered["id"]), "--json", "--config",
                              d.config_path], capture_output=True, env=d.env, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["state"], "done")


if __name__ == "__main__":
    harness.run()
