"""Two daemons on one port (issue 10, item 10): a second `closehook serve` on
a port a running daemon listens on (with its own store, so the store lock does
not stop it first) must refuse to start, naming the address, and must not take
a share of the traffic: every request still reaches the first daemon."""

import os
import subprocess

import harness
from harness import E2ETestCase, request, wait_until

REQUESTS = 50
EXIT_TIMEOUT_S = harness.STARTUP_TIMEOUT_S


class PortExclusive(E2ETestCase):
    def test_second_daemon_on_the_same_port_refuses_and_takes_no_traffic(self):
        first = self.start_daemon()
        config = harness.write_config(self.tmp, first.port, self.fake.url,
                                      store_path=os.path.join(self.tmp, "second.db"), name="second.json")
        second = subprocess.Popen([harness.BINARY, "serve", "--config", config], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=first.env, text=True)
        self.addCleanup(self._reap, second)
        try:
            second.wait(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass  # still running: the requests below show what that costs

        ids = [f"port-exclusive-{i}" for i in range(REQUESTS)]
        statuses = [request(first.port, "GET", "/healthz", headers={"X-Request-Id": rid})[0] for rid in ids]

        def seen_by_first():
            logged = {e.get("request_id") for e in first.logs() if e.get("msg") == "access"}
            return [rid for rid in ids if rid in logged]

        wait_until(lambda: len(seen_by_first()) == REQUESTS, timeout=2)
        answered_by_first = len(seen_by_first())
        running = second.poll() is None
        self.assertFalse(running, f"the second daemon is serving on port {first.port}: only "
                                  f"{answered_by_first} of {REQUESTS} requests reached the first")
        output = second.stdout.read()
        self.assertNotEqual(second.returncode, 0, output)
        self.assertIn(f"listen 127.0.0.1:{first.port}: address already in use", output.lower())
        self.assertEqual(statuses, [200] * REQUESTS)
        self.assertEqual(answered_by_first, REQUESTS, "requests answered by another process")
        self.assertTrue(first.running())

    @staticmethod
    def _reap(proc):
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


if __name__ == "__main__":
    harness.run()
