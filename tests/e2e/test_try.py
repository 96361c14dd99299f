"""`closehook try` end to end, against the suite's fake Close: without
--resolve it calls nothing; with --resolve it finds the sample's meeting with
read-only GETs and prints the exact PUT it would send, never sending it; an
ambiguous lookup is reported as such and exits 1."""

import os
import subprocess

import harness
from harness import E2ETestCase, MEETING_PATH, SAMPLE_ACTIVITY_ID, ZOOM_SECRET

TRY_TIMEOUT_S = 30


class Try(E2ETestCase):
    def run_try(self, *extra):
        config = harness.write_config(self.tmp, harness.free_port(), self.fake.url)
        body = harness.sample("zoom/meeting_ended.json")
        sample = os.path.join(self.tmp, "meeting_ended.json")
        with open(sample, "wb") as f:
            f.write(body)
        args = [harness.BINARY, "try", "--config", config, "--route", "zoom", sample]
        for name, value in harness.zoom_headers(ZOOM_SECRET, body).items():
            args += ["--header", f"{name}: {value}"]
        proc = subprocess.run(args + list(extra), env=harness.daemon_env(), capture_output=True, text=True,
                              timeout=TRY_TIMEOUT_S, stdin=subprocess.DEVNULL)
        self.assertNotIn(harness.CLOSE_API_KEY, proc.stdout + proc.stderr)
        self.assertNotIn(ZOOM_SECRET, proc.stdout + proc.stderr)
        return proc

    def test_without_resolve_nothing_reaches_close(self):
        proc = self.run_try()
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("verification: ok", proc.stdout)
        self.assertIn("resolve would look the meeting up with:", proc.stdout)
        self.assertEqual(self.fake.requests(), [])

    def test_resolve_names_the_meeting_and_sends_no_put(self):
        proc = self.run_try("--resolve")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("resolve: found", proc.stdout)
        self.assertIn(f"PUT {self.fake.url}{MEETING_PATH}\n", proc.stdout)
        self.assertIn('{"outcome_id":"outcome_held",', proc.stdout)
        self.assertTrue(self.fake.lookups(), "no lookup reached the fake")
        self.assertEqual([r.method for r in self.fake.requests() if r.method != "GET"], [])
        self.assertEqual(self.fake.puts(), [])

    def test_ambiguous_meeting_is_reported_and_fails(self):
        twin = harness.sample_meeting()
        twin["id"] = "acti_twinSameZoomLinkSameTime00000000000000000000"
        self.fake.add_meeting(twin)
        proc = self.run_try("--resolve")
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("resolve: ambiguous", proc.stdout)
        self.assertIn(SAMPLE_ACTIVITY_ID, proc.stdout)
        self.assertIn(twin["id"], proc.stdout)
        self.assertNotIn(f"PUT {self.fake.url}{MEETING_PATH}", proc.stdout)
        self.assertEqual(self.fake.puts(), [])


if __name__ == "__main__":
    harness.run()
