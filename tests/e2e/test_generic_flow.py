"""Generic (HMAC-signed) webhooks end to end: the Close activity id comes from
the payload, so there is one PUT straight to it and no meeting lookup; and the
malformed-input table holds for the route."""

import json
import time

import harness
from harness import E2ETestCase, MEETING_PATH, SETTLE_S, GENERIC_SECRET
import senders
from senders import SenderTestCase

NOSHOW_BODY = {"outcome_id": "outcome_noshow",
               "user_note_html": "<p>Prospect did not join. Sent reschedule link &lt;2 min&gt; after start.</p>"}


def outcome(**changes):
    doc = json.loads(harness.sample("generic/outcome.json"))
    doc.update(changes)
    return json.dumps(doc).encode()


class GenericFlow(E2ETestCase):
    def test_outcome_is_put_to_the_named_activity(self):
        d = self.start_daemon()
        self.assertQueued(self.send_generic(d, "generic/outcome.json"))
        (put,) = self.wait_successful_puts(1)
        self.assertClosePut(put, MEETING_PATH, NOSHOW_BODY)
        self.assertEqual(self.fake.lookups(), [], "explicit id must not need a lookup")
        self.assertEqual([r.method for r in self.fake.requests()], ["PUT"])

    def test_request_id_is_echoed_and_carried_to_the_close_put(self):
        d = self.start_daemon()
        body = harness.sample("generic/outcome.json")
        headers = harness.generic_headers(GENERIC_SECRET, body)
        headers["X-Request-Id"] = "lb-7f3a-42"
        status, answer_headers, _ = harness.post(d.port, "/hooks/notetaker", body, headers)
        self.assertEqual(status, 202)
        self.assertEqual(answer_headers.get("x-request-id"), "lb-7f3a-42")
        (put,) = self.wait_successful_puts(1)
        self.assertEqual({k.lower(): v for k, v in put.headers.items()}.get("x-request-id"), "lb-7f3a-42")

    def test_same_delivery_id_twice_is_delivered_once(self):
        d = self.start_daemon()
        first = self.assertQueued(self.send_generic(d, "generic/outcome.json"))
        self.assertJSONAnswer(self.send_generic(d, "generic/outcome.json"), 200,
                              status="duplicate", id=first["id"])
        self.wait_successful_puts(1)
        self.assertEqual(len(self.fake.puts()), 1)

    def test_different_delivery_ids_are_two_updates(self):
        d = self.start_daemon()
        a = self.assertQueued(self.send_generic(d, outcome(id="evt_A")))
        b = self.assertQueued(self.send_generic(d, outcome(id="evt_B", notes="second")))
        self.assertNotEqual(a["id"], b["id"])
        puts = self.wait_successful_puts(2)
        # (their order is test_delivery.py's concern)
        notes = sorted(p.json()["user_note_html"] for p in puts)
        self.assertEqual(notes, sorted([NOSHOW_BODY["user_note_html"], "<p>second</p>"]))

    def test_condition_not_met_is_ignored(self):
        d = self.start_daemon()
        self.assertJSONAnswer(self.send_generic(d, outcome(outcome="held")), 200, status="ignored")
        time.sleep(SETTLE_S)  # watching for requests, not asserting on timing
        self.assertEqual(self.fake.requests(), [])

    def test_oauth_credential_is_sent_as_bearer(self):
        token = "oauth_e2eAccessToken123"
        self.fake.accept_bearer_token(token)
        d = self.start_daemon(env={"CLOSE_TOKEN": token},
                              extra={"credentials": {"close": {"bearer_token": "env:CLOSE_TOKEN"}}})
        self.assertQueued(self.send_generic(d, "generic/outcome.json"))
        (put,) = self.wait_successful_puts(1)
        self.assertEqual(put.headers.get("authorization"), "Bearer " + token)
        self.assertEqual(put.json(), NOSHOW_BODY)
        self.assertNotIn(token, d.log_text())

    def test_wrong_hmac_is_refused(self):
        d = self.start_daemon()
        doc = self.assertJSONAnswer(self.send_generic(d, "generic/outcome.json", secret="not-the-key"),
                                    401, error="unauthorized", detail=...)
        self.assertNotIn(GENERIC_SECRET, json.dumps(doc))
        body = harness.sample("generic/outcome.json")
        self.assertJSONAnswer(harness.post(d.port, "/hooks/notetaker", body), 401, error="unauthorized")
        time.sleep(SETTLE_S)  # watching for requests, not asserting on timing
        self.assertEqual(self.fake.requests(), [])


class GenericMalformed(SenderTestCase):
    ROUTES = harness.ROUTES
    ROUTE = "notetaker"
    SECRET = GENERIC_SECRET

    def sign(self, body):
        return harness.generic_headers(GENERIC_SECRET, body)

    def test_malformed_input_table(self):
        d = self.start_sender_daemon(body_limit=senders.SMALL_BODY_LIMIT)
        body = harness.sample("generic/outcome.json")
        self.check_malformed_json_is_400(d, b'{"event":"meeting.outcome","activity_id":')
        self.check_wrong_content_type_is_415(d, body)
        self.check_get_is_405_with_allow(d)
        self.check_over_body_limit_is_413(d, senders.padded(json.loads(body)))
        self.assertUnauthorized(self.send(d, body, headers=harness.generic_headers("not-the-key", body)))
        self.assertNothingReachedClose()
        # the sample itself is under the limit and still goes through
        self.assertQueued(self.send(d, body))
        self.wait_successful_puts(1)


if __name__ == "__main__":
    harness.run()
