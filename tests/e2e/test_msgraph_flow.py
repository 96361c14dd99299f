"""Microsoft Graph change notifications end to end: the validationToken
handshake is echoed byte for byte without touching Close; every entry of a
batch is its own event (two entries, two PUTs); clientState is checked for
every entry; a retried batch is not delivered twice; lifecycle notifications
are acknowledged without a PUT; and the malformed-input table holds.

Graph notifications name the Outlook event, not the Close meeting, and finding
the meeting by calendar event id is not part of this suite: the rules name
their activity literally."""

import json

import harness
from harness import post
import senders
from senders import GRAPH_CLIENT_STATE, SenderTestCase, graph_body, meeting_with_id, quote_token

UPDATED_ID = "acti_graph_updated"
DELETED_ID = "acti_graph_deleted"

ROUTES = [
    {"name": "outlook", "source": "msgraph", "secret": "env:GRAPH_SECRET", "credential": "close",
     "rules": [
         {"event": "updated", "activity_id": UPDATED_ID,
          "note": "<p>Outlook event {{resourceData.id}} was updated.</p>", "note_mode": "replace"},
         {"event": "deleted", "activity_id": DELETED_ID, "outcome_id": "outcome_canceled"},
     ]},
]

UPDATED_BODY = {"user_note_html": "<p>Outlook event AAMkAGI2TAAA= was updated.</p>"}
DELETED_BODY = {"outcome_id": "outcome_canceled"}

# The sample's token (samples/msgraph/validation.txt), decoded.
SAMPLE_TOKEN = ("Validation: Testing client application reachability for subscription "
                "Request-Id: 25b5a9e3-0000-4c2b-9a5e-000000000000")


def put_path(activity_id):
    return f"/api/v1/activity/meeting/{activity_id}/"


class GraphCase(SenderTestCase):
    ROUTES = ROUTES
    ROUTE = "outlook"
    SECRET = GRAPH_CLIENT_STATE

    def setUp(self):
        super().setUp()
        self.fake.add_meeting(meeting_with_id(UPDATED_ID))
        self.fake.add_meeting(meeting_with_id(DELETED_ID))

    def sign(self, body):
        return {}  # Graph signs nothing: the clientState in the body is the check

    def validate(self, daemon, encoded_token):
        """Graph's validation request: a POST with the token in the query, no body."""
        return post(daemon.port, f"{self.hook()}?validationToken={encoded_token}", b"",
                    content_type="text/plain; charset=utf-8")

    def puts_by_path(self, puts):
        return {p.path: p for p in puts}


class GraphFlow(GraphCase):
    def test_validation_token_is_echoed_exactly(self):
        d = self.start_sender_daemon()
        raw = harness.sample("msgraph/validation.txt").split(b"validationToken=", 1)[1].split(b" ", 1)[0]
        for encoded, token in ((raw.decode(), SAMPLE_TOKEN),
                               (quote_token("a+b&c=d/é %2B~"), "a+b&c=d/é %2B~")):
            status, headers, body = self.validate(d, encoded)
            self.assertEqual(status, 200, body)
            self.assertEqual(headers.get("content-type", "").split(";")[0].strip(), "text/plain")
            self.assertEqual(body, token.encode("utf-8"))
            self.assertEqual(headers.get("content-length"), str(len(token.encode("utf-8"))))
        self.assertNothingReachedClose()

    def test_batch_of_two_is_two_puts(self):
        d = self.start_sender_daemon()
        answer = self.send(d, graph_body("msgraph/notification.json"))
        self.assertEqual(answer[0], 202, answer)
        self.assertQueued(answer)
        puts = self.puts_by_path(self.wait_successful_puts(2))
        self.assertEqual(set(puts), {put_path(UPDATED_ID), put_path(DELETED_ID)})
        self.assertClosePut(puts[put_path(UPDATED_ID)], put_path(UPDATED_ID), UPDATED_BODY)
        self.assertClosePut(puts[put_path(DELETED_ID)], put_path(DELETED_ID), DELETED_BODY)
        self.assertEqual(self.fake.lookups(), [], "literal ids must not need a lookup")

    def test_retried_batch_is_not_delivered_twice(self):
        d = self.start_sender_daemon()
        body = graph_body("msgraph/notification.json")
        first = self.assertQueued(self.send(d, body))
        self.assertDuplicateOf(self.send(d, body), first)
        puts = self.wait_successful_puts(2)
        self.assertEqual({p.path for p in puts}, {put_path(UPDATED_ID), put_path(DELETED_ID)})
        self.assertDuplicateOf(self.send(d, body), first)
        self.wait_successful_puts(2)

    def test_lifecycle_notification_is_acknowledged_without_a_put(self):
        d = self.start_sender_daemon()
        code, headers, text = self.send(d, graph_body("msgraph/lifecycle.json"))
        self.assertTrue(200 <= code < 300, (code, text))
        self.assertNothingReachedClose()
        logged = [line for line in d.logs() if line.get("lifecycle_event") == "reauthorizationRequired"]
        self.assertTrue(logged, d.log_tail())
        self.assertNotIn(GRAPH_CLIENT_STATE, d.log_text())


class GraphRefusals(GraphCase):
    def setUp(self):
        super().setUp()
        self.d = self.start_sender_daemon()

    def test_wrong_client_state_is_401(self):
        self.assertUnauthorized(self.send(self.d, graph_body("msgraph/notification.json", "not-our-state")))
        self.assertUnauthorized(self.send(self.d, graph_body("msgraph/lifecycle.json", "not-our-state")))
        self.assertNothingReachedClose()

    def test_one_bad_entry_refuses_the_whole_batch(self):
        doc = json.loads(graph_body("msgraph/notification.json"))
        doc["value"][1]["clientState"] = "not-our-state"
        self.assertUnauthorized(self.send(self.d, json.dumps(doc).encode()))
        del doc["value"][1]["clientState"]
        self.assertUnauthorized(self.send(self.d, json.dumps(doc).encode()))
        self.assertNothingReachedClose()

    def test_prefix_of_the_client_state_is_401(self):
        short = graph_body("msgraph/notification.json", GRAPH_CLIENT_STATE[:-1])
        self.assertUnauthorized(self.send(self.d, short))
        self.assertNothingReachedClose()


class GraphMalformed(GraphCase):
    def test_malformed_input_table(self):
        d = self.start_sender_daemon(body_limit=senders.SMALL_BODY_LIMIT)
        body = graph_body("msgraph/notification.json")
        self.check_malformed_json_is_400(d)
        self.check_wrong_content_type_is_415(d, body)
        self.check_get_is_405_with_allow(d)
        doc = json.loads(body)
        doc["value"][0]["resourceData"]["padding"] = "x" * (2 * senders.SMALL_BODY_LIMIT)
        self.check_over_body_limit_is_413(d, json.dumps(doc).encode())
        # not a notification batch at all
        for shape in (b'{}', b'{"value": []}', b'[]'):
            self.assertJSONAnswer(self.send(d, shape), 400, error="bad_request", detail=...)
        self.assertNothingReachedClose()
        self.assertQueued(self.send(d, body))
        self.wait_successful_puts(2)


if __name__ == "__main__":
    harness.run()
