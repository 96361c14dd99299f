"""Issue 10, item 15: one credential's trouble must not hold up the others.
Close hangs every PUT sent with credential A's key; credential B's updates
must still be delivered within a second, because no credential may have more
than its cap of rows in flight (delivery.per_credential, default workers) and
the pool has a thread more than the cap."""

import time

import harness
from harness import E2ETestCase, CLOSE_API_KEY, basic_auth

KEY_B = "api_e2eKeyB_fedcba9876543210"
# The bound: B's update reaches Close within this of being sent.
B_PROMPT_S = 1.0
# Long enough that a worker stuck on A's hanging PUT stays stuck for the
# whole test: only the cap can leave a worker for B.
CLOSE_TIMEOUT_MS = 30000
UPDATES_A = 6
# Time for idle workers to take every A row they are allowed to.
SETTLE_S = 0.5

ROUTES = [harness.credential_route("a", "closea"), harness.credential_route("b", "closeb")]
CREDENTIALS = {"closea": {"api_key": "env:CLOSE_API_KEY"}, "closeb": {"api_key": "env:CLOSE_API_KEY_B"}}


def activity_id(route_name, k):
    return f"acti_iso{route_name}{k:04d}"


def webhook(route_name, k):
    return harness.outcome_webhook(route_name, k, activity_id(route_name, k))


class CredentialIsolation(E2ETestCase):
    def setUp(self):
        super().setUp()
        meeting = harness.sample_meeting()
        for name, n in (("a", UPDATES_A), ("b", 3)):
            for k in range(n):
                self.fake.add_meeting(dict(meeting, id=activity_id(name, k)))
        self.fake.accept_api_key(KEY_B)

    def puts_with(self, key):
        return [r for r in self.fake.puts() if r.headers.get("authorization") == basic_auth(key)]

    def hang_a_then_send_b(self, delivery, cap):
        d = self.start_daemon(routes=ROUTES, env={"CLOSE_API_KEY_B": KEY_B},
                              extra={"credentials": CREDENTIALS,
                                     "close": {"base_url": self.fake.url, "timeout_ms": CLOSE_TIMEOUT_MS}},
                              delivery=dict(delivery, max_age_s=3600))
        self.fake.hold_puts_for(CLOSE_API_KEY)
        for k in range(UPDATES_A):
            self.assertQueued(self.send_generic(d, webhook("a", k), route="a"))
        self.assertTrue(self.fake.wait_for(lambda f: len(self.puts_with(CLOSE_API_KEY)) >= 1, 5))
        time.sleep(SETTLE_S)
        self.assertEqual(len(self.puts_with(CLOSE_API_KEY)), cap,
                         "A's hanging PUTs hold exactly its cap of workers")

        for k in range(3):
            sent = time.monotonic()
            self.assertQueued(self.send_generic(d, webhook("b", k), route="b"))
            path = f"/api/v1/activity/meeting/{activity_id('b', k)}/"
            got = self.fake.wait_for(
                lambda f: any(r.path == path and r.status == 200 for r in self.puts_with(KEY_B)), 5)
            waited = time.monotonic() - sent
            self.assertTrue(got, f"B's update {k} was not delivered while A hangs")
            self.assertLess(waited, B_PROMPT_S, f"B's update {k} waited {waited:.2f} s behind A")

        # A's Close comes back: every A update is delivered, none twice, none dead.
        self.fake.release_puts_for(CLOSE_API_KEY)
        self.assertTrue(self.fake.wait_for(
            lambda f: len([r for r in self.puts_with(CLOSE_API_KEY) if r.status == 200]) >= UPDATES_A, 15))
        ok_a = sorted(r.path for r in self.puts_with(CLOSE_API_KEY) if r.status == 200)
        self.assertEqual(ok_a, sorted(f"/api/v1/activity/meeting/{activity_id('a', k)}/" for k in range(UPDATES_A)))
        self.assertEqual([line for line in d.logs() if line.get("msg") == "dead letter"], [])

    def test_default_cap_leaves_a_worker_for_other_credentials(self):
        self.hang_a_then_send_b({"workers": 2}, cap=2)

    def test_a_single_worker_still_leaves_one_for_other_credentials(self):
        self.hang_a_then_send_b({"workers": 1}, cap=1)

    def test_configured_cap(self):
        self.hang_a_then_send_b({"workers": 4, "per_credential": 2}, cap=2)


if __name__ == "__main__":
    harness.run()
