"""The throw-away PostgreSQL cluster the PostgreSQL-backed tests run on
(pgcluster.py): it starts on loopback with a password-protected user, keeps
its data across a stop and start (the database-outage tests need that), and
leaves nothing running or on disk when stopped."""

import os
import socket
import subprocess
import unittest

import harness
import pgcluster


class PgClusterTest(unittest.TestCase):
    def setUp(self):
        self.pg = pgcluster.PgCluster().start()
        self.addCleanup(self.pg.stop)

    def test_serves_sql_on_loopback_with_a_password(self):
        self.assertEqual(self.pg.psql("SELECT 1 + 1"), "2")
        self.assertIn("PostgreSQL", self.pg.psql("SELECT version()"))
        self.assertEqual(self.pg.psql("SHOW synchronous_commit"), "on")
        self.assertEqual(self.pg.psql("SHOW listen_addresses"), "127.0.0.1")
        env = dict(os.environ, PGPASSWORD="wrong", PGCONNECT_TIMEOUT="5")
        proc = subprocess.run([os.path.join(self.pg.bin, "psql"), "-X", "-d", self.pg.url(), "-c", "SELECT 1"],
                              env=env, capture_output=True, text=True, timeout=30)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("password authentication failed", proc.stderr)

    def test_data_survives_a_pause_and_nothing_is_left_after_stop(self):
        self.pg.psql("CREATE TABLE t (v int); INSERT INTO t VALUES (42)")
        self.pg.pause()
        with self.assertRaises(pgcluster.PgError):
            self.pg.psql("SELECT 1")
        self.pg.resume()
        self.assertEqual(self.pg.psql("SELECT v FROM t"), "42")
        root, port = self.pg.root, self.pg.port
        self.pg.stop()
        self.assertFalse(os.path.exists(root))
        with socket.socket() as s:
            self.assertNotEqual(s.connect_ex(("127.0.0.1", port)), 0, "the server still listens")


if __name__ == "__main__":
    harness.run()
