"""What senders get for requests closehook refuses (docs/ARCHITECTURE.md, "HTTP answers"):
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

    def test_upper_case_hex_signature_is_accepted(self):
        """Hex is case-insensitive; a proxy or SDK that upper-cases it is not forging."""
        headers = zoom_headers(ZOOM_SECRET, self.ended)
        headers["x-zm-signature"] = "v0=" + headers["x-zm-signature"][3:].upper()
        self.assertQueued(post(self.d.port, "/hooks/zoom", self.ended, headers))
        self.wait_successful_puts(1)

    def raw(self, request_line, headers, body):
        """One request over a bare socket (http.client would not send absolute-form)."""
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        data = (f"{request_line}\r\nHost: 127.0.0.1:{self.d.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n{head}\r\n").encode() + body
        return harness.raw_exchange(self.d.port, data)

    def test_absolute_form_target_reaches_the_route(self):
        """RFC 9112 3.2.2: servers accept the absolute-form target."""
        headers = zoom_headers(ZOOM_SECRET, self.ended)
        status, doc = self.raw(f"POST http://127.0.0.1:{self.d.port}/hooks/zoom HTTP/1.1", headers, self.ended)
        self.assertEqual((status, doc.get("status")), (202, "queued"), doc)
        self.wait_successful_puts(1)
        status, doc = self.raw(f"POST HTTP://127.0.0.1:{self.d.port}/hooks/nope HTTP/1.1", headers, self.ended)
        self.assertEqual((status, doc.get("error")), (404, "not_found"))

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
