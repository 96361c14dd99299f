"""The store file removed or replaced under a running daemon: SQLite would go
on writing to the unlinked inode and every 202 would be lost at the next
start. The daemon must notice by itself (a check every second and on every
batch), answer /readyz and intake 503, and log an error naming the path."""

import json
import os
import shutil
import time

import harness
from harness import E2ETestCase, request, wait_until


class StoreReplaced(E2ETestCase):
    def setUp(self):
        super().setUp()
        self.d = self.start_daemon()
        self.db = os.path.join(self.tmp, "q.db")

    def body(self, n):
        return json.dumps({"id": f"evt-{n}", "event": "call_outcome", "outcome": "no_show", "notes": "n",
                           "close": {"activity_id": harness.SAMPLE_ACTIVITY_ID}}).encode()

    def assertStoreLost(self):
        self.assertTrue(wait_until(lambda: request(self.d.port, "GET", "/readyz")[0] == 503, timeout=5),
                        "/readyz still 200 with the store gone")
        answer = self.send_generic(self.d, self.body(99))
        self.assertJSONAnswer(answer, 503, error="unavailable")
        self.assertTrue(answer[1].get("retry-after"))
        lines = [e for e in self.d.logs() if "removed or replaced" in e.get("msg", "")]
        self.assertTrue(lines, "no error line")
        self.assertEqual(lines[0].get("path"), self.db)
        self.assertEqual(lines[0].get("level"), "error")
        self.assertTrue(self.d.running())

    def test_unlinked_store_turns_readyz_and_intake_503(self):
        self.assertQueued(self.send_generic(self.d, self.body(1)))
        self.wait_successful_puts(1)
        os.unlink(self.db)
        self.assertStoreLost()

    def test_replaced_store_turns_readyz_and_intake_503(self):
        self.assertQueued(self.send_generic(self.d, self.body(1)))
        self.wait_successful_puts(1)
        shutil.copy(self.db, self.db + ".copy")
        os.replace(self.db + ".copy", self.db)
        self.assertStoreLost()


class StoreMissing(E2ETestCase):
    def test_a_store_missing_where_one_existed_is_a_warning_naming_it(self):
        d = self.start_daemon()
        db = os.path.join(self.tmp, "q.db")
        self.assertEqual(d.stop(), 0)
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.unlink(db + suffix)
        d.start(port=d.port)
        warned = [e for e in d.logs() if "store missing" in e.get("msg", "")]
        self.assertEqual(len(warned), 1, d.log_tail())
        self.assertEqual((warned[0]["level"], warned[0]["path"]), ("warn", db))


if __name__ == "__main__":
    harness.run()
