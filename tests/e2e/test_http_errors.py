"""What senders get for requests closehook refuses (README, "HTTP answers"):
every refusal is a JSON body with "error", nothing refused reaches Close, and
the health endpoints answer."""

import http.client
import json
import time

import harness
from harness import E2ETestCase, SETTLE_S, ZOOM_SECRET, ZOOM_TOLERANCE_S, post, request, zoom_headers

# Small enough that a padded sample exceeds it (set only in the 413 test's config).
SMALL_BODY_LIMIT = 1024


class HttpErrors(E2ETestCase):
    def setUp(self):
        super().setUp()
        self.d = self.start_daemon()
        self.ended = harness.sample("zoom/meeting_ended.json")

    def assertNothingReachedClose(self):
        time.sleep(SETTLE_S)  # watching for requests, not asserting on timing
        self.assertEqual(self.fake.requests(), [])

    def assertUnauthorized(self, answer):
        doc = self.assertJSONAnswer(answer, 401, error="unauthorized", detail=...)
        self.assertNotIn(ZOOM_SECRET, json.dumps(doc))
        return doc

    def test_wrong_signature_is_401(self):
        self.assertUnauthorized(self.send_zoom(self.d, self.ended, secret="wrong-secret"))
        self.assertNothingReachedClose()

    def test_signature_over_other_bytes_is_401(self):
        headers = zoom_headers(ZOOM_SECRET, self.ended)
        tampered = self.ended.replace(b'"duration":42', b'"duration":43')
        self.assertNotEqual(tampered, self.ended)
        self.assertUnauthorized(post(self.d.port, "/hooks/zoom", tampered, headers))
        self.assertNothingReachedClose()

    def test_missing_signature_is_401(self):
        self.assertUnauthorized(post(self.d.port, "/hooks/zoom", self.ended))
        self.assertNothingReachedClose()

    def test_stale_timestamp_is_401(self):
        stale = int(time.time()) - 2 * ZOOM_TOLERANCE_S
        self.assertUnauthorized(self.send_zoom(self.d, self.ended, ts=stale))
        future = int(time.time()) + 2 * ZOOM_TOLERANCE_S
        self.assertUnauthorized(self.send_zoom(self.d, self.ended, ts=future))
        self.assertNothingReachedClose()

    def test_malformed_json_is_400(self):
        body = b'{"event":"meeting.ended","payload":'
        self.assertJSONAnswer(self.send_zoom(self.d, body), 400, error="bad_request", detail=...)
        self.assertNothingReachedClose()

    def test_unknown_route_is_404(self):
        self.assertJSONAnswer(self.send_zoom(self.d, self.ended, route="nope"), 404, error="not_found")
        self.assertJSONAnswer(request(self.d.port, "GET", "/nope"), 404, error="not_found")
        self.assertNothingReachedClose()

    def test_get_on_a_hook_is_405_with_allow(self):
        answer = request(self.d.port, "GET", "/hooks/zoom")
        self.assertJSONAnswer(answer, 405, error=...)
        allow = answer[1].get("allow", "")
        self.assertIn("POST", [m.strip() for m in allow.split(",")], f"Allow: {allow!r}")

    def test_text_plain_is_415(self):
        answer = post(self.d.port, "/hooks/zoom", self.ended, zoom_headers(ZOOM_SECRET, self.ended),
                      content_type="text/plain")
        self.assertJSONAnswer(answer, 415, error=...)
        self.assertNothingReachedClose()

    def test_json_with_charset_is_accepted(self):
        # Zoom itself sends "application/json; charset=utf-8" (samples/zoom/headers.txt)
        answer = post(self.d.port, "/hooks/zoom", self.ended, zoom_headers(ZOOM_SECRET, self.ended),
                      content_type="application/json; charset=utf-8")
        self.assertQueued(answer)

    def test_health_endpoints(self):
        status, _, body = request(self.d.port, "GET", "/healthz")
        self.assertEqual(status, 200, body)
        status, _, body = request(self.d.port, "GET", "/readyz")
        self.assertEqual(status, 200, body)

    def test_keep_alive_survives_refusals(self):
        # every answer has a Content-Length, so one connection carries many requests
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=10)
        try:
            for _ in range(3):
                conn.request("POST", "/hooks/zoom", body=self.ended,
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                self.assertEqual(resp.status, 401)
                self.assertIsNotNone(resp.getheader("Content-Length"))
                self.assertNotEqual((resp.getheader("Connection") or "").lower(), "close")
        finally:
            conn.close()


class BodyLimit(E2ETestCase):
    def test_body_over_the_limit_is_413(self):
        d = self.start_daemon(body_limit=SMALL_BODY_LIMIT)
        doc = json.loads(harness.sample("zoom/meeting_ended.json"))
        doc["payload"]["object"]["padding"] = "x" * (4 * SMALL_BODY_LIMIT)
        body = json.dumps(doc).encode()
        answer = self.send_zoom(d, body)
        self.assertJSONAnswer(answer, 413, error=...)
        # just under the limit still works
        small = harness.sample("zoom/meeting_ended.json")
        self.assertLess(len(small), SMALL_BODY_LIMIT)
        self.assertQueued(self.send_zoom(d, small))


if __name__ == "__main__":
    harness.run()
