"""Issue 6, fault test 3: a Close that enforces N requests a second on one API
key (429 + Retry-After + rate_reset + RateLimit headers past it, RateLimit on
every answer). The daemon must pace that credential to Close's budget:
nothing lost or dead, throughput converging to N/s, under 5% of its requests
answered 429, and a second credential's updates flowing meanwhile instead of
waiting behind the first one's backlog."""

import time

import harness
from harness import E2ETestCase, CLOSE_API_KEY, basic_auth

# Close's per-key limits are tens of requests a second; 10/s keeps the test
# short while leaving a 150-update burst 15 s of backlog.
LIMIT_PER_S = 10
BURST_A = 150
UPDATES_B = 10
KEY_B = "api_e2eKeyB_fedcba9876543210"
# A's backlog needs BURST_A / LIMIT_PER_S = 15 s; the rest is margin.
DELIVER_ALL_S = 45
# B's updates must not wait for A's backlog: each is through within this
# of being sent (a few claim rounds and a sleep-sized pacing gap).
B_PROMPT_S = 3.0
MAX_429_RATIO = 0.05
# "Converges to N/s": the second half of A's deliveries runs within these
# fractions of the limit (the fake cannot be exceeded by more than one
# window's worth over the measured span, so the upper bound is loose).
MIN_RATE_FRACTION = 0.8
MAX_RATE_FRACTION = 1.15

ROUTES = [harness.credential_route("a", "closea"), harness.credential_route("b", "closeb")]
CREDENTIALS = {"closea": {"api_key": "env:CLOSE_API_KEY"}, "closeb": {"api_key": "env:CLOSE_API_KEY_B"}}


def activity_id(route_name, k):
    return f"acti_rate{route_name}{k:04d}"


def webhook(route_name, k):
    return harness.outcome_webhook(route_name, k, activity_id(route_name, k))


class RateLimit(E2ETestCase):
    def test_paced_to_the_limit_while_another_credential_flows(self):
        meeting = harness.sample_meeting()
        for name, n in (("a", BURST_A), ("b", UPDATES_B)):
            for k in range(n):
                self.fake.add_meeting(dict(meeting, id=activity_id(name, k)))
        self.fake.accept_api_key(KEY_B)
        self.fake.set_rate_limit(CLOSE_API_KEY, LIMIT_PER_S)
        d = self.start_daemon(routes=ROUTES, env={"CLOSE_API_KEY_B": KEY_B}, extra={"credentials": CREDENTIALS},
                              delivery={"workers": 2, "max_age_s": 3600})

        for k in range(BURST_A):
            self.assertQueued(self.send_generic(d, webhook("a", k), route="a"))
        sent_b = {}
        for k in range(UPDATES_B):
            sent_b[f"/api/v1/activity/meeting/{activity_id('b', k)}/"] = time.monotonic()
            self.assertQueued(self.send_generic(d, webhook("b", k), route="b"))

        total = BURST_A + UPDATES_B
        self.fake.wait_for(lambda f: len(f.successful_puts()) >= total, DELIVER_ALL_S)
        ok = self.fake.successful_puts()
        auth_a = basic_auth(CLOSE_API_KEY)
        ok_a = [r for r in ok if r.headers.get("authorization") == auth_a]
        ok_b = [r for r in ok if r.headers.get("authorization") == basic_auth(KEY_B)]

        # nothing lost, nothing twice, nothing dead
        self.assertEqual(sorted(r.path for r in ok_a),
                         sorted(f"/api/v1/activity/meeting/{activity_id('a', k)}/" for k in range(BURST_A)))
        self.assertEqual(sorted(r.path for r in ok_b), sorted(sent_b))
        dead = [line for line in d.logs() if line.get("msg") == "dead letter"]
        self.assertEqual(dead, [])

        # few 429s
        reqs_a = [r for r in self.fake.requests() if r.headers.get("authorization") == auth_a]
        limited = [r for r in reqs_a if r.status == 429]
        ratio = len(limited) / len(reqs_a)
        # throughput over the second half of A's deliveries
        times = sorted(r.time for r in ok_a)[BURST_A // 2:]
        rate = (len(times) - 1) / (times[-1] - times[0])
        sys_report = (f"A: {len(reqs_a)} requests, {len(limited)} answered 429 ({ratio:.1%}); "
                      f"second-half throughput {rate:.2f}/s against a limit of {LIMIT_PER_S}/s")
        print(sys_report)
        self.assertLess(ratio, MAX_429_RATIO, sys_report)
        self.assertGreaterEqual(rate, MIN_RATE_FRACTION * LIMIT_PER_S, sys_report)
        self.assertLessEqual(rate, MAX_RATE_FRACTION * LIMIT_PER_S, sys_report)

        # B is not stuck behind A's backlog
        late = {r.path: round(r.time - sent_b[r.path], 2) for r in ok_b if r.time - sent_b[r.path] > B_PROMPT_S}
        self.assertEqual(late, {}, "B's updates waited (s) behind A's backlog")
        self.assertLess(max(r.time for r in ok_b), max(r.time for r in ok_a) - BURST_A / LIMIT_PER_S / 2,
                        "B finished only near the end of A's backlog")


if __name__ == "__main__":
    harness.run()
