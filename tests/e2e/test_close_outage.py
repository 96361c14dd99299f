"""Issue 6, fault test 2: Close down for 60 s under load, then up. The fake
closes its listener and every open connection (so the daemon's connects are
refused, the harder case than a 503), webhooks keep arriving through the
outage, and once Close is back everything is delivered, in acceptance order
per meeting, and nothing is dead."""

import json
import re
import time

import harness
from harness import E2ETestCase, request

# The figure: one minute of outage.
OUTAGE_S = 60
WEBHOOKS = 200
# Spread over 20 meetings, so per-meeting ordering is exercised too.
MEETINGS = 20
# Retries capped at 2 s: once Close is back, every row is retried within that;
# max_age far beyond the outage, so nothing may die of it.
DELIVERY = {"workers": 2, "retry_initial_ms": 200, "retry_max_ms": 2000, "max_age_s": 86400}
# After Close is back: one retry interval plus 200 PUTs, with margin.
RECOVER_S = 30
DELIVERIES = re.compile(r'^closehook_deliveries_total\{route="outage",outcome="(\w+)",close_status="(\d+)"\} (\S+)$',
                        re.M)

ROUTES = [{"name": "outage", "source": "generic", "secret": "env:GENERIC_SECRET", "credential": "close",
           "event_type_path": "event", "activity_id_path": "close.activity_id", "dedup_path": "id",
           "rules": [{"event": "call_outcome", "outcome_id": "outcome_noshow", "note": "<p>{{notes}}</p>"}]}]


def activity_id(m):
    return f"acti_outage{m:03d}"


class CloseOutage(E2ETestCase):
    def test_refused_for_a_minute_then_everything_delivered(self):
        meeting = harness.sample_meeting()
        for m in range(MEETINGS):
            self.fake.add_meeting(dict(meeting, id=activity_id(m)))
        d = self.start_daemon(routes=ROUTES, delivery=DELIVERY, admin=True)

        self.fake.go_down()
        start = time.monotonic()
        for k in range(WEBHOOKS):
            # spread over the outage, not a burst before it
            time.sleep(max(0.0, start + k * OUTAGE_S / WEBHOOKS - time.monotonic()))
            body = json.dumps({"event": "call_outcome", "id": f"evt_outage_{k}",
                               "close": {"activity_id": activity_id(k % MEETINGS)},
                               "outcome": "no_show", "notes": f"update {k}"}).encode()
            self.assertQueued(self.send_generic(d, body, route="outage"))
        time.sleep(max(0.0, start + OUTAGE_S - time.monotonic()))
        self.assertEqual(self.fake.requests(), [], "the fake was down, yet answered")
        retried = self.deliveries(d)
        self.assertGreater(retried.get(("retry", "0"), 0), 0, f"no refused attempt was retried: {retried}")

        self.fake.come_up()
        up = time.monotonic()
        self.fake.wait_for(lambda f: len(f.successful_puts()) >= WEBHOOKS, RECOVER_S)
        ok = self.fake.successful_puts()
        print(f"{len(ok)} of {WEBHOOKS} delivered {max(r.time for r in ok) - up:.1f} s after Close came back")
        self.assertEqual(len(ok), WEBHOOKS, "lost or duplicated updates")
        for m in range(MEETINGS):
            notes = [r.json()["user_note_html"] for r in ok if r.path.endswith(f"/{activity_id(m)}/")]
            self.assertEqual(notes, [f"<p>update {k}</p>" for k in range(m, WEBHOOKS, MEETINGS)],
                             f"meeting {m}: out of acceptance order")
        self.assertEqual([line for line in d.logs() if line.get("msg") == "dead letter"], [])
        counted = self.deliveries_once_done(d, WEBHOOKS)
        self.assertEqual(counted.get(("done", "200")), WEBHOOKS, counted)
        self.assertNotIn("dead", {outcome for outcome, _ in counted}, counted)

    def deliveries_once_done(self, d, n):
        """The counters once n rows are counted done: the fake records a PUT
        before the daemon has settled its row."""
        harness.wait_until(lambda: self.deliveries(d).get(("done", "200")) == n)
        return self.deliveries(d)

    @staticmethod
    def deliveries(d):
        """closehook_deliveries_total for this route: {(outcome, status): count}."""
        status, _, body = harness.scrape(d)
        assert status == 200, status
        return {(o, s): float(v) for o, s, v in DELIVERIES.findall(body.decode())}


if __name__ == "__main__":
    harness.run()
