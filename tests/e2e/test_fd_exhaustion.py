"""Out of file descriptors (issue 10, item 13): with RLIMIT_NOFILE used up by
idle connections, accept() fails with EMFILE while the listen socket stays
readable. The loops must back off (stop reading the socket for a moment)
rather than spin on it, say so once in the log, count it in /metrics, and
accept again as soon as descriptors are free."""

import os
import resource
import socket
import time

import harness
from harness import E2ETestCase, request, scrape, wait_until
from exposition import parse

# The idle daemon holds about 25 descriptors (store, WAL, epolls, pipes,
# listeners, log), so this leaves room for a few dozen connections.
FD_LIMIT = 64
# More than the daemon can hold, so some wait in the backlog, unaccepted.
CONNECTIONS = FD_LIMIT + 40
CPU_WINDOW_S = 2.0
# A behavioural bound, generous: spinning loops burn a core each.
CPU_MAX_S = 0.3


def low_fd_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); fields[0] is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class FdExhaustion(E2ETestCase):
    def test_accept_backs_off_when_out_of_descriptors_and_recovers(self):
        d = self.start_daemon(preexec=low_fd_limit, admin=True)
        pid = d.proc.pid
        idle = []
        self.addCleanup(lambda: [s.close() for s in idle])
        for _ in range(CONNECTIONS):
            idle.append(socket.create_connection(("127.0.0.1", d.port), timeout=5))
        # h2o closes idle connections after 10 s; all of this fits well before.
        full = wait_until(lambda: open_fds(pid) >= FD_LIMIT, timeout=3)
        self.assertTrue(full, f"the daemon holds {open_fds(pid)} descriptors, never reached {FD_LIMIT}")

        before = cpu_seconds(pid)
        time.sleep(CPU_WINDOW_S)
        used = cpu_seconds(pid) - before
        self.assertLess(used, CPU_MAX_S, f"{used:.2f} s of CPU in {CPU_WINDOW_S} s while out of descriptors: "
                                         "the loops spin on the listen socket")

        for s in idle:
            s.close()
        idle.clear()
        answered = wait_until(lambda: self._healthz(d.port) == 200, timeout=5)
        self.assertTrue(answered, "no answer after the idle connections were closed")

        logs = d.logs()
        warns = [e for e in logs if e.get("msg", "").startswith("accept failed")]
        self.assertTrue(warns, "no warning about the failed accepts")
        self.assertTrue(all(e.get("level") == "warn" and e.get("listener") == "webhook" for e in warns), warns)
        self.assertIn("Too many open files", warns[0].get("error", ""))
        # One warning per loop and episode, not one per 100 ms retry (40 and more).
        self.assertLessEqual(len(warns), 10, warns)
        self.assertTrue(any(e.get("msg") == "accepting connections again" for e in logs))

        status, _, body = scrape(d)
        self.assertEqual(status, 200)
        backoffs = parse(body.decode())["closehook_accept_backoffs_total"]
        self.assertGreater(backoffs.value(listener="webhook", reason="emfile") or 0, 0, body.decode())

    @staticmethod
    def _healthz(port):
        try:
            return request(port, "GET", "/healthz", timeout=2)[0]
        except OSError:
            return None


if __name__ == "__main__":
    harness.run()
