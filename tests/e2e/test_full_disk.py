"""The store on a real small filesystem that fills up (a tmpfs of a few MiB
mounted by the test; skipped with a message where mounting is impossible).
Intake must stop with a reserve left for delivery, delivery must carry on
meanwhile, a settle the full disk refused must be retried until it lands (no
row stays inflight), and everything must recover by itself when space
returns. store.max_size_mb's cap is the same story on a big disk
(tests/unit/test_queue.c capped_store_refuses_new_jobs_but_still_delivers)."""

import json
import os
import sqlite3
import subprocess
import time
import unittest

import harness
from harness import E2ETestCase, wait_until

FS_SIZE = "6m"
SPARE_BYTES = 256 * 1024  # left free: under the store's 1 MiB reserve


def fill(path, limit=None):
    """Writes zeros to path until the filesystem is full (or limit bytes)."""
    written = 0
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        while limit is None or written < limit:
            try:
                written += f.write(chunk if limit is None else chunk[:min(65536, limit - written)])
            except OSError:
                break
    return written


class FullDisk(E2ETestCase):
    def setUp(self):
        super().setUp()
        self.mnt = os.path.join(self.tmp, "store")
        os.mkdir(self.mnt)
        rc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FS_SIZE}", "tmpfs", self.mnt],
                            capture_output=True, text=True)
        if rc.returncode != 0:
            self.skipTest(f"cannot mount a tmpfs here ({rc.stderr.strip()}); the full-disk test needs root")
        self.addCleanup(lambda: subprocess.run(["umount", "-l", self.mnt], capture_output=True))
        self.db = os.path.join(self.mnt, "q.db")
        self.d = self.start_daemon(store_path=self.db)
        self.n = 0

    def send(self):
        self.n += 1
        body = json.dumps({"id": f"evt-{self.n}", "event": "call_outcome", "outcome": "no_show",
                           "notes": "n", "close": {"activity_id": harness.SAMPLE_ACTIVITY_ID}}).encode()
        return self.send_generic(self.d, body)

    def states(self):
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        try:
            return dict(con.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall())
        finally:
            con.close()

    def assertRefused(self, answer):
        self.assertJSONAnswer(answer, 503, error="unavailable")
        self.assertTrue(answer[1].get("retry-after"), "503 without Retry-After")

    def test_intake_stops_with_room_left_for_delivery(self):
        self.fake.hold_puts()
        for _ in range(4):
            self.assertQueued(self.send())
        self.fake.wait_for(lambda f: len(f.puts()) >= 1)
        spare = os.path.join(self.mnt, "spare")
        fill(spare, SPARE_BYTES)
        fill(os.path.join(self.mnt, "filler"))
        os.unlink(spare)  # SPARE_BYTES free: room to settle, not to accept
        self.assertRefused(self.send())
        self.fake.release_puts()
        self.assertTrue(wait_until(lambda: self.states().get("done", 0) == 4),
                        f"delivery stopped on the nearly full disk: {self.states()}")
        self.assertEqual(self.states().get("inflight", 0), 0)
        self.assertRefused(self.send())
        os.unlink(os.path.join(self.mnt, "filler"))
        self.assertTrue(wait_until(lambda: self.send()[0] == 202, timeout=10), "intake did not recover")
        self.assertTrue(wait_until(lambda: self.states().get("done", 0) == 5), f"{self.states()}")
        self.assertTrue(self.d.running())

    def test_settles_refused_by_a_full_disk_land_once_space_returns(self):
        self.fake.hold_puts()
        for _ in range(3):
            self.assertQueued(self.send())
        self.fake.wait_for(lambda f: len(f.puts()) >= 2)
        filler = os.path.join(self.mnt, "filler")
        fill(filler)
        self.assertRefused(self.send())
        self.fake.release_puts()
        self.fake.wait_for(lambda f: len(f.successful_puts()) >= 2)
        time.sleep(1.0)  # the settles meet the full disk meanwhile
        os.unlink(filler)
        self.assertTrue(wait_until(lambda: self.states() == {"done": 3}, timeout=15),
                        f"rows left behind after space returned: {self.states()}")
        self.assertQueued(self.send())
        self.assertTrue(wait_until(lambda: self.states() == {"done": 4}), f"{self.states()}")


if __name__ == "__main__":
    harness.run()
