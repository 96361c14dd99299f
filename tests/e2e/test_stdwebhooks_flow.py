"""Standard Webhooks (Svix and the notetakers built on it) end to end: a signed
message naming its Close activity becomes exactly one PUT there, without a
lookup; webhook-id is the dedup key; bad signatures and stale timestamps never
reach Close; and the malformed-input table holds for the route."""

import base64
import json

import harness
from harness import MEETING_PATH
import senders
from senders import STDWEBHOOKS_SECRET, SenderTestCase, stdwebhooks_headers

# The spec's reference libraries refuse timestamps more than 5 minutes away
# (senders.md); the route keeps stdwebhooks.c's default of 300 s.
STDWEBHOOKS_TOLERANCE_S = 300
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"

ROUTES = [
    {"name": "notetaker", "source": "stdwebhooks", "secret": "env:STDWEBHOOKS_SECRET", "credential": "close",
     "activity_id_path": "data.close_activity_id",
     "rules": [
         {"event": "meeting.completed", "outcome_id": "outcome_demo_done",
          "note": "<p>Outcome: {{data.outcome}}</p><p><b>Action items</b></p>{{data.action_items}}"},
     ]},
]

COMPLETED_BODY = {"outcome_id": "outcome_demo_done",
                  "user_note_html": "<p>Outcome: demo_done</p><p><b>Action items</b></p>"
                                    "<ul><li>Send quote</li><li>Book security review</li></ul>"}


def completed(**data):
    doc = json.loads(harness.sample("stdwebhooks/meeting_completed.json"))
    doc["data"].update(data)
    return json.dumps(doc).encode()


class StdWebhooksCase(SenderTestCase):
    ROUTES = ROUTES
    ROUTE = "notetaker"
    SECRET = STDWEBHOOKS_SECRET

    def sign(self, body, msg_id=MSG_ID):
        return stdwebhooks_headers(STDWEBHOOKS_SECRET, msg_id, body)


class StdWebhooksFlow(StdWebhooksCase):
    def test_message_is_put_to_the_named_activity(self):
        d = self.start_sender_daemon()
        self.assertQueued(self.send(d, "stdwebhooks/meeting_completed.json"))
        (put,) = self.wait_successful_puts(1)
        self.assertClosePut(put, MEETING_PATH, COMPLETED_BODY)
        self.assertEqual([r.method for r in self.fake.requests()], ["PUT"],
                         "an explicit id must not need a lookup")

    def test_svix_header_spelling_is_accepted(self):
        d = self.start_sender_daemon()
        body = harness.sample("stdwebhooks/meeting_completed.json")
        hdrs = stdwebhooks_headers(STDWEBHOOKS_SECRET, MSG_ID, body, prefix="svix")
        self.assertQueued(self.send(d, body, hdrs))
        (put,) = self.wait_successful_puts(1)
        self.assertClosePut(put, MEETING_PATH, COMPLETED_BODY)

    def test_any_one_of_several_signatures_is_enough(self):
        # a rotated secret's old signature, and an asymmetric one that is not ours to check
        d = self.start_sender_daemon()
        body = harness.sample("stdwebhooks/meeting_completed.json")
        old = stdwebhooks_headers("whsec_" + base64.b64encode(b"the-previous-key").decode(), MSG_ID, body)
        hdrs = stdwebhooks_headers(STDWEBHOOKS_SECRET, MSG_ID, body,
                                   extra=[old["webhook-signature"], "v1a,bm90LW91cnMtdG8tY2hlY2s="])
        self.assertEqual(len(hdrs["webhook-signature"].split(" ")), 3)
        self.assertQueued(self.send(d, body, hdrs))
        self.wait_successful_puts(1)

    def test_sender_retry_is_one_put(self):
        d = self.start_sender_daemon()
        body = harness.sample("stdwebhooks/meeting_completed.json")
        first = self.assertQueued(self.send(d, body))
        # a retry: same webhook-id, a new timestamp and signature
        self.assertDuplicateOf(self.send(d, body), first)
        (put,) = self.wait_successful_puts(1)
        self.assertClosePut(put, MEETING_PATH, COMPLETED_BODY)
        self.assertDuplicateOf(self.send(d, body), first)
        self.wait_successful_puts(1)

    def test_a_new_webhook_id_is_a_new_update(self):
        d = self.start_sender_daemon()
        a = self.assertQueued(self.send(d, completed()))
        second = completed(outcome="follow_up")
        b = self.assertQueued(self.send(d, second, self.sign(second, msg_id="msg_second000000000000000000")))
        self.assertNotEqual(a["id"], b["id"])
        puts = self.wait_successful_puts(2)
        outcomes = sorted(p.json()["user_note_html"].split("</p>")[0] for p in puts)
        self.assertEqual(outcomes, ["<p>Outcome: demo_done", "<p>Outcome: follow_up"])


class StdWebhooksRefusals(StdWebhooksCase):
    def setUp(self):
        super().setUp()
        self.d = self.start_sender_daemon()
        self.body = harness.sample("stdwebhooks/meeting_completed.json")

    def test_wrong_secret_is_401(self):
        other = "whsec_" + base64.b64encode(b"not-the-key-at-all").decode()
        self.assertUnauthorized(self.send(self.d, self.body, stdwebhooks_headers(other, MSG_ID, self.body)))
        self.assertNothingReachedClose()

    def test_tampered_body_or_id_is_401(self):
        hdrs = self.sign(self.body)
        tampered = self.body.replace(b"demo_done", b"demo_lost")
        self.assertNotEqual(tampered, self.body)
        self.assertUnauthorized(self.send(self.d, tampered, hdrs))
        # the id is signed too: a replay under another id is refused
        self.assertUnauthorized(self.send(self.d, self.body, dict(hdrs, **{"webhook-id": "msg_other"})))
        self.assertNothingReachedClose()

    def test_missing_headers_are_401(self):
        good = self.sign(self.body)
        for name in good:
            hdrs = {k: v for k, v in good.items() if k != name}
            doc = self.assertUnauthorized(self.send(self.d, self.body, hdrs))
            self.assertIn(name, doc["detail"])
        self.assertUnauthorized(self.send(self.d, self.body, {}))
        self.assertNothingReachedClose()

    def test_stale_and_future_timestamps_are_401(self):
        for ts in (senders.now() - 2 * STDWEBHOOKS_TOLERANCE_S, senders.now() + 2 * STDWEBHOOKS_TOLERANCE_S):
            hdrs = stdwebhooks_headers(STDWEBHOOKS_SECRET, MSG_ID, self.body, ts=ts)
            self.assertUnauthorized(self.send(self.d, self.body, hdrs))
        self.assertNothingReachedClose()


class StdWebhooksMalformed(StdWebhooksCase):
    def test_malformed_input_table(self):
        d = self.start_sender_daemon(body_limit=senders.SMALL_BODY_LIMIT)
        body = harness.sample("stdwebhooks/meeting_completed.json")
        self.check_malformed_json_is_400(d, b'{"type":"meeting.completed","data":{')
        self.check_wrong_content_type_is_415(d, body)
        self.check_get_is_405_with_allow(d)
        self.check_over_body_limit_is_413(d, senders.padded(json.loads(body)))
        # well-formed JSON without the event type the route reads: 400, not a crash or a 202
        no_type = json.dumps({"data": {"close_activity_id": "acti_x"}}).encode()
        self.assertJSONAnswer(self.send(d, no_type), 400, error="bad_request", detail=...)
        self.assertNothingReachedClose()
        self.assertQueued(self.send(d, body))
        self.wait_successful_puts(1)


if __name__ == "__main__":
    harness.run()
