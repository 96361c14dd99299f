"""GET /metrics through the real binary: the text passes a strict Prometheus
exposition-format (0.0.4) check (exposition.py, itself checked first against
known-bad texts), and its counters, gauges and histograms move with the
traffic that should move them, by exactly as much."""

import json
import subprocess
import time
import unittest

import harness
from harness import E2ETestCase, GENERIC_SECRET, request, wait_until
from exposition import ExpositionError, check_content_type, parse

# Every family issue 7 asks for, with the type a scraper must see.
FAMILIES = {
    "closehook_build_info": "gauge",
    "closehook_http_requests_total": "counter",
    "closehook_verification_failures_total": "counter",
    "closehook_webhooks_total": "counter",
    "closehook_queue_rows": "gauge",
    "closehook_deliveries_total": "counter",
    "closehook_dead_letters_total": "counter",
    "closehook_close_request_duration_seconds": "histogram",
    "closehook_end_to_end_seconds": "histogram",
    "closehook_close_rate_limited_total": "counter",
    "closehook_credential_pause_seconds": "gauge",
}
# The queue gauge is refreshed by the store writer about once a second.
GAUGE_REFRESH_S = 5.0


def outcome(event_id, notes="metrics"):
    doc = json.loads(harness.sample("generic/outcome.json"))
    doc["id"] = event_id
    doc["notes"] = notes
    return json.dumps(doc).encode()


class ExpositionChecker(unittest.TestCase):
    """The checker must refuse what Prometheus would refuse (or misread), or a
    passing /metrics test would prove nothing."""

    GOOD = ("# HELP a_total Things done.\n# TYPE a_total counter\n"
            'a_total{route="x",status="202"} 3\na_total{route="y\\"q\\\\\\n",status="202"} 0\n'
            "# TYPE g gauge\ng -1.5e3\n"
            "# HELP h Hist.\n# TYPE h histogram\n"
            'h_bucket{k="a",le="0.5"} 1\nh_bucket{k="a",le="+Inf"} 2\nh_sum{k="a"} 0.7\nh_count{k="a"} 2\n')

    def test_good_text_parses(self):
        fams = parse(self.GOOD)
        self.assertEqual(fams["a_total"].value(route='y"q\\\n', status="202"), 0)
        self.assertEqual(fams["g"].value(), -1500)
        self.assertEqual(fams["h"].value("_count", k="a"), 2)

    BAD = {
        "no final newline": "# TYPE g gauge\ng 1",
        "blank line": "# TYPE g gauge\n\ng 1\n",
        "other comment": "# just a comment\n# TYPE g gauge\ng 1\n",
        "unknown type": "# TYPE g summary\ng 1\n",
        "sample without TYPE": "g 1\n",
        "TYPE after sample": "# HELP g x\ng 1\n# TYPE g gauge\n",
        "second TYPE": "# TYPE g gauge\n# TYPE g gauge\ng 1\n",
        "second HELP": "# HELP g x\n# HELP g y\n# TYPE g gauge\ng 1\n",
        "HELP after samples": "# TYPE g gauge\ng 1\n# HELP g x\n",
        "split group": "# TYPE g gauge\ng{a=\"1\"} 1\n# TYPE f gauge\nf 1\ng{a=\"2\"} 1\n",
        "bad metric name": "# TYPE 1g gauge\n1g 1\n",
        "bad label name": "# TYPE g gauge\ng{1a=\"x\"} 1\n",
        "reserved label name": "# TYPE g gauge\ng{__a=\"x\"} 1\n",
        "duplicate label": "# TYPE g gauge\ng{a=\"x\",a=\"y\"} 1\n",
        "bad escape": "# TYPE g gauge\ng{a=\"\\t\"} 1\n",
        "bad HELP escape": "# HELP g a\\\"b\n# TYPE g gauge\ng 1\n",
        "unquoted value": "# TYPE g gauge\ng{a=x} 1\n",
        "unterminated value": "# TYPE g gauge\ng{a=\"x} 1\n",
        "lower-case nan": "# TYPE g gauge\ng nan\n",
        "lower-case inf": "# TYPE g gauge\ng inf\n",
        "two spaces": "# TYPE g gauge\ng  1\n",
        "trailing space": "# TYPE g gauge\ng 1 \n",
        "duplicate series": "# TYPE g gauge\ng{a=\"x\"} 1\ng{a=\"x\"} 2\n",
        "negative counter": "# TYPE c counter\nc -1\n",
        "counter suffix on gauge": "# TYPE g gauge\ng_count 1\n",
        "histogram without +Inf": "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
        "histogram not cumulative": ("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 1\n"
                                     "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n"),
        "+Inf != count": "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
        "no _count": "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\n",
        "le on _sum": "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum{le=\"1\"} 1\nh_count 1\n",
        "bare histogram sample": "# TYPE h histogram\nh 1\n",
        "fractional bucket": "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1.5\nh_sum 1\nh_count 1.5\n",
    }

    def test_bad_texts_are_refused(self):
        for why, text in self.BAD.items():
            with self.subTest(why):
                with self.assertRaises(ExpositionError, msg=f"accepted ({why}): {text!r}"):
                    parse(text)

    def test_content_type(self):
        check_content_type("text/plain; version=0.0.4")
        check_content_type("text/plain; version=0.0.4; charset=utf-8")
        for bad in ("text/plain", "application/json", "text/plain; version=1.0.0",
                    "text/plain; version=0.0.4; charset=latin-1", None):
            with self.assertRaises(ExpositionError, msg=bad):
                check_content_type(bad)


class Metrics(E2ETestCase):
    def scrape(self, d):
        """GET /metrics: 200, the exposition content type, a strict parse."""
        status, headers, body = harness.scrape(d)
        self.assertEqual(status, 200, body[:300])
        try:
            check_content_type(headers.get("content-type"))
            return parse(body.decode("utf-8"))
        except (ExpositionError, UnicodeDecodeError) as e:
            self.fail(f"/metrics is not valid exposition text: {e}\n{body.decode('utf-8', 'replace')}")

    def value(self, d, family, suffix="", **labels):
        """One series' value now (0 when the series does not exist yet)."""
        f = self.scrape(d).get(family)
        self.assertIsNotNone(f, f"no family {family}")
        v = f.value(suffix, **labels)
        return 0 if v is None else v

    def wait_value(self, d, family, want, suffix="", timeout=harness.DELIVERY_TIMEOUT_S, **labels):
        got = wait_until(lambda: self.value(d, family, suffix, **labels) == want, timeout=timeout)
        self.assertTrue(got, f"{family}{suffix}{labels} is {self.value(d, family, suffix, **labels)}, "
                             f"expected {want}")

    def test_metrics_are_never_served_on_the_public_listener(self):
        """h2o normalises paths, so each spelling reached /metrics on the webhook
        port and defeated the load balancer's rule; the admin port serves it,
        and only with the token."""
        d = self.start_daemon(admin=True)
        for path in ("/metrics", "/%6detrics", "/./metrics", "/hooks/../metrics", "//metrics",
                     "/metrics?x=1", "/healthz/../metrics"):
            with self.subTest(path=path):
                self.assertJSONAnswer(request(d.port, "GET", path), 404, error="not_found")
        self.assertEqual(harness.scrape(d)[0], 200)
        self.assertEqual(request(d.admin_port, "GET", "/metrics")[0], 401)
        self.assertEqual(request(d.admin_port, "GET", "/%6detrics",
                                 headers={"Authorization": "Bearer " + harness.METRICS_TOKEN})[0], 200)

    def test_exposition_is_strict_after_mixed_traffic(self):
        d = self.start_daemon(admin=True)
        self.assertQueued(self.send_generic(d, outcome("evt_mix_1")))
        self.assertQueued(self.send_zoom(d, "zoom/meeting_ended.json"))
        self.assertJSONAnswer(self.send_zoom(d, "zoom/url_validation.json"), 200)
        self.assertJSONAnswer(self.send_zoom(d, "zoom/participant_joined.json"), 200, status="ignored")
        self.assertJSONAnswer(self.send_generic(d, outcome("evt_mix_2"), secret="wrong"), 401)
        self.assertEqual(request(d.port, "GET", "/hooks/notetaker")[0], 405)
        self.assertEqual(request(d.port, "GET", "/no/such/path")[0], 404)
        self.assertEqual(harness.scrape(d, "POST", body=b"x")[0], 405)
        self.wait_successful_puts(2)
        # the queue gauge appears once the writer has refreshed it
        wait_until(lambda: self.scrape(d)["closehook_queue_rows"].samples, timeout=GAUGE_REFRESH_S)
        fams = self.scrape(d)
        for name, kind in FAMILIES.items():
            with self.subTest(name):
                self.assertIn(name, fams)
                self.assertEqual(fams[name].type, kind)
                self.assertTrue(fams[name].help, f"{name} has no HELP text")
        states = {s.labels.get("state") for s in fams["closehook_queue_rows"].samples}
        self.assertEqual(states, {"pending", "inflight", "dead"})
        reqs = fams["closehook_http_requests_total"]
        self.assertEqual(reqs.value(route="-", source="-", status="404"), 1)
        self.assertEqual(reqs.value(route="notetaker", source="generic", status="405"), 1)
        self.assertEqual(reqs.value(route="metrics", source="-", status="405"), 1)
        self.assertEqual(reqs.value(route="zoom", source="zoom", status="200"), 2)
        # paths we do not serve share one label value: a scanner cannot grow the series
        routes = {s.labels["route"] for s in reqs.samples}
        self.assertLessEqual(routes, {"zoom", "notetaker", "-", "healthz", "readyz", "metrics"})
        webhooks = fams["closehook_webhooks_total"]
        self.assertEqual(webhooks.value(route="zoom", result="ignored"), 1)
        self.assertEqual(webhooks.value(route="zoom", result="queued"), 1)
        self.assertEqual(webhooks.value(route="notetaker", result="queued"), 1)

    def test_requests_counter_grows_by_the_webhooks_sent(self):
        n = 5
        d = self.start_daemon(admin=True)
        labels = dict(route="notetaker", source="generic", status="202")
        before = self.value(d, "closehook_http_requests_total", **labels)
        for i in range(n):
            self.assertQueued(self.send_generic(d, outcome(f"evt_count_{i}")))
        self.assertEqual(self.value(d, "closehook_http_requests_total", **labels), before + n)
        # a duplicate is a 200, not another 202
        self.assertJSONAnswer(self.send_generic(d, outcome("evt_count_0")), 200, status="duplicate")
        self.assertEqual(self.value(d, "closehook_http_requests_total", **labels), before + n)
        self.assertEqual(self.value(d, "closehook_http_requests_total", route="notetaker",
                                    source="generic", status="200"), 1)
        self.assertEqual(self.value(d, "closehook_webhooks_total", route="notetaker", result="duplicate"), 1)

    def test_verification_failures_by_route_and_reason(self):
        d = self.start_daemon(admin=True)
        fail = "closehook_verification_failures_total"
        self.assertEqual(self.value(d, fail, route="notetaker", reason="mismatch"), 0)
        self.assertJSONAnswer(self.send_generic(d, outcome("evt_bad_1"), secret="not-the-key"), 401)
        self.assertEqual(self.value(d, fail, route="notetaker", reason="mismatch"), 1)
        self.assertJSONAnswer(self.send_generic(d, outcome("evt_bad_2"), secret="not-the-key"), 401)
        self.assertEqual(self.value(d, fail, route="notetaker", reason="mismatch"), 2)
        self.assertJSONAnswer(harness.post(d.port, "/hooks/notetaker", outcome("evt_bad_3")), 401)
        self.assertEqual(self.value(d, fail, route="notetaker", reason="missing_credential"), 1)
        stale = time.time() - 2 * harness.ZOOM_TOLERANCE_S
        self.assertJSONAnswer(self.send_zoom(d, "zoom/meeting_ended.json", ts=stale), 401)
        self.assertEqual(self.value(d, fail, route="zoom", reason="timestamp"), 1)
        self.assertEqual(self.value(d, "closehook_http_requests_total", route="notetaker",
                                    source="generic", status="401"), 3)
        self.assertEqual(self.fake.requests(), [], "a refused webhook was forwarded")
        # a good signature counts no failure (and is the only one delivered)
        self.assertQueued(self.send_generic(d, outcome("evt_good")))
        fams = self.scrape(d)
        total = sum(s.value for s in fams[fail].samples)
        self.assertEqual(total, 4, fams[fail].samples)
        self.assertEqual(len(self.wait_successful_puts(1)), 1)

    def test_deliveries_and_latency_histograms_count_each_delivery(self):
        n = 4
        d = self.start_daemon(admin=True)
        for i in range(n):
            self.assertQueued(self.send_generic(d, outcome(f"evt_del_{i}", notes=f"n{i}")))
        self.wait_successful_puts(n)
        self.assertEqual(self.value(d, "closehook_deliveries_total", route="notetaker", outcome="done",
                                    close_status="200"), n)
        fams = self.scrape(d)
        e2e = fams["closehook_end_to_end_seconds"]
        self.assertEqual(e2e.value("_count", route="notetaker"), n)
        self.assertGreater(e2e.value("_sum", route="notetaker"), 0)
        self.assertEqual(e2e.value("_bucket", route="notetaker", le="+Inf"), n)
        puts = fams["closehook_close_request_duration_seconds"]
        self.assertEqual(puts.value("_count", kind="put"), n)
        self.assertGreater(puts.value("_sum", kind="put"), 0)

    def test_queue_rows_gauge_follows_the_rows(self):
        d = self.start_daemon(admin=True)
        gauge = "closehook_queue_rows"
        self.fake.hold_puts()
        self.assertQueued(self.send_generic(d, outcome("evt_q_1")))
        self.assertTrue(self.fake.wait_for(lambda f: f.puts()), "no PUT")
        self.wait_value(d, gauge, 1, timeout=GAUGE_REFRESH_S, state="inflight")
        self.assertEqual(self.value(d, gauge, state="pending"), 0)
        self.fake.release_puts()
        self.wait_successful_puts(1)
        self.wait_value(d, gauge, 0, timeout=GAUGE_REFRESH_S, state="inflight")
        self.assertEqual(self.value(d, gauge, state="dead"), 0)
        # a permanent refusal is a dead letter: the gauge, the counter and the outcome
        self.fake.set_put_status(400)
        self.assertQueued(self.send_generic(d, outcome("evt_q_2")))
        self.wait_value(d, gauge, 1, timeout=GAUGE_REFRESH_S + harness.DELIVERY_TIMEOUT_S, state="dead")
        self.assertEqual(self.value(d, "closehook_dead_letters_total", route="notetaker"), 1)
        self.assertEqual(self.value(d, "closehook_deliveries_total", route="notetaker", outcome="dead",
                                    close_status="400"), 1)
        self.assertEqual(self.value(d, gauge, state="pending"), 0)
        self.assertEqual(self.value(d, gauge, state="inflight"), 0)

    def test_rate_limit_counter_and_pause(self):
        d = self.start_daemon(admin=True)
        self.fake.fail_next_puts([429])
        self.assertQueued(self.send_generic(d, outcome("evt_429")))
        self.wait_successful_puts(1)
        self.assertEqual([p.status for p in self.fake.puts()], [429, 200])
        fams = self.scrape(d)
        self.assertEqual(fams["closehook_close_rate_limited_total"].value(credential="close"), 1)
        pause = fams["closehook_credential_pause_seconds"].value(credential="close")
        self.assertIsNotNone(pause, fams["closehook_credential_pause_seconds"].samples)
        self.assertGreaterEqual(pause, 0)
        self.assertEqual(fams["closehook_deliveries_total"].value(
            route="notetaker", outcome="retry", close_status="429"), 1)
        self.assertEqual(fams["closehook_deliveries_total"].value(
            route="notetaker", outcome="done", close_status="200"), 1)

    def test_build_info_names_the_running_version(self):
        d = self.start_daemon(admin=True)
        out = subprocess.run([harness.BINARY, "version"], capture_output=True, text=True, check=True)
        version = out.stdout.split()[-1]
        info = self.scrape(d)["closehook_build_info"]
        self.assertEqual(len(info.samples), 1, info.samples)
        self.assertEqual(info.samples[0].value, 1)
        self.assertEqual(info.samples[0].labels.get("version"), version)

    def test_no_secret_in_the_metrics(self):
        d = self.start_daemon(admin=True)
        self.assertQueued(self.send_generic(d, outcome("evt_secret")))
        self.wait_successful_puts(1)
        status, _, body = harness.scrape(d)
        self.assertEqual(status, 200)
        self.assertNotIn(GENERIC_SECRET.encode(), body)
        self.assertNotIn(harness.CLOSE_API_KEY.encode(), body)
        self.assertNotIn(harness.ZOOM_SECRET.encode(), body)


if __name__ == "__main__":
    harness.run()
