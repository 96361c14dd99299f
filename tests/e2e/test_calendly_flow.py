"""Calendly webhooks end to end: a signed invitee event becomes exactly one PUT
to the Close meeting found through the Zoom join URL and start time Calendly
sends; bad signatures, sender retries and unmapped events never reach Close
twice (or at all), and the malformed-input table holds for the route."""

import json

import harness
from harness import MEETING_PATH, SAMPLE_ACTIVITY_ID
import senders
from senders import CALENDLY_KEY, SenderTestCase, calendly_headers

# Calendly's tolerance for the signature's t= is about 3 minutes (senders.md);
# the route keeps calendly.c's default of 180 s.
CALENDLY_TOLERANCE_S = 180

ROUTES = [
    {"name": "calendly", "source": "calendly", "secret": "env:CALENDLY_SECRET", "credential": "close",
     "rules": [
         {"event": "invitee.canceled", "outcome_id": "outcome_canceled",
          "note": "<p>Canceled by {{payload.cancellation.canceled_by}} "
                  "({{payload.cancellation.canceler_type}}): {{payload.cancellation.reason}}</p>"},
         {"event": "invitee.created",
          "note": "<p>Booked via Calendly: {{payload.scheduled_event.name}} with {{payload.name}} "
                  "({{payload.email}})</p>{{#payload.questions_and_answers}}"
                  "<p><b>{{question}}</b> {{answer}}</p>{{/payload.questions_and_answers}}"},
     ]},
]

CANCELED_BODY = {"outcome_id": "outcome_canceled",
                 "user_note_html": "<p>Canceled by Dana Buyer (invitee): Budget frozen until Q1</p>"}
CREATED_BODY = {"user_note_html": "<p>Booked via Calendly: 30 Minute Demo with Dana Buyer "
                                  "(dana@acme.example)</p><p><b>What would you like to discuss?</b> "
                                  "Pricing for 40 seats</p>"}


class CalendlyCase(SenderTestCase):
    ROUTES = ROUTES
    ROUTE = "calendly"
    SECRET = CALENDLY_KEY

    def sign(self, body):
        return calendly_headers(CALENDLY_KEY, body)


class CalendlyFlow(CalendlyCase):
    def test_invitee_canceled_updates_the_meeting_found_by_zoom_link(self):
        d = self.start_sender_daemon()
        self.assertQueued(self.send(d, "calendly/invitee_canceled.json"))
        (put,) = self.wait_successful_puts(1)
        self.assertClosePut(put, MEETING_PATH, CANCELED_BODY)
        lookups = [r for r in self.fake.lookups() if r.time <= put.time]
        self.assertTrue(lookups, "no meeting-list lookup before the PUT")
        self.assertEqual(self.fake.meeting(SAMPLE_ACTIVITY_ID)["outcome_id"], "outcome_canceled")

    def test_invitee_created_renders_the_answers(self):
        d = self.start_sender_daemon()
        self.assertQueued(self.send(d, "calendly/invitee_created.json"))
        (put,) = self.wait_successful_puts(1)
        self.assertClosePut(put, MEETING_PATH, CREATED_BODY)

    def test_signature_of_a_rolled_key_among_others_is_accepted(self):
        # one v1 per signing key while a key is rolled; any one matching is enough
        d = self.start_sender_daemon()
        body = harness.sample("calendly/invitee_canceled.json")
        hdrs = calendly_headers(CALENDLY_KEY, body, extra_v1=["0" * 64])
        self.assertQueued(self.send(d, body, hdrs))
        (put,) = self.wait_successful_puts(1)
        self.assertClosePut(put, MEETING_PATH, CANCELED_BODY)

    def test_sender_retry_is_one_put(self):
        d = self.start_sender_daemon()
        body = harness.sample("calendly/invitee_canceled.json")
        first = self.assertQueued(self.send(d, body))
        # Calendly's retry: same body, freshly signed
        self.assertDuplicateOf(self.send(d, body), first)
        (put,) = self.wait_successful_puts(1)
        self.assertClosePut(put, MEETING_PATH, CANCELED_BODY)
        # a retry after delivery is still a duplicate, not a second update
        self.assertDuplicateOf(self.send(d, body), first)
        self.wait_successful_puts(1)

    def test_event_no_rule_maps_is_ignored(self):
        # the no-show payload names the invitee, not the meeting: no rule here
        d = self.start_sender_daemon()
        doc = self.assertJSONAnswer(self.send(d, "calendly/invitee_no_show_created.json"), 200,
                                    status="ignored")
        self.assertIn("invitee_no_show.created", doc.get("reason", ""))
        self.assertNothingReachedClose()


class CalendlyRefusals(CalendlyCase):
    def setUp(self):
        super().setUp()
        self.d = self.start_sender_daemon()
        self.body = harness.sample("calendly/invitee_canceled.json")

    def test_wrong_key_is_401(self):
        self.assertUnauthorized(self.send(self.d, self.body, calendly_headers("not-the-key", self.body)))
        self.assertNothingReachedClose()

    def test_tampered_body_is_401(self):
        hdrs = calendly_headers(CALENDLY_KEY, self.body)
        tampered = self.body.replace(b"Budget frozen", b"Budget thawed")
        self.assertNotEqual(tampered, self.body)
        self.assertUnauthorized(self.send(self.d, tampered, hdrs))
        self.assertNothingReachedClose()

    def test_missing_or_malformed_header_is_401(self):
        self.assertUnauthorized(self.send(self.d, self.body, {}))
        good = calendly_headers(CALENDLY_KEY, self.body)["Calendly-Webhook-Signature"]
        no_time = ",".join(p for p in good.split(",") if not p.startswith("t="))
        self.assertUnauthorized(self.send(self.d, self.body, {"Calendly-Webhook-Signature": no_time}))
        self.assertNothingReachedClose()

    def test_stale_and_future_timestamps_are_401(self):
        for ts in (senders.now() - 2 * CALENDLY_TOLERANCE_S, senders.now() + 2 * CALENDLY_TOLERANCE_S):
            self.assertUnauthorized(self.send(self.d, self.body, calendly_headers(CALENDLY_KEY, self.body, ts)))
        self.assertNothingReachedClose()


class CalendlyMalformed(CalendlyCase):
    def test_malformed_input_table(self):
        d = self.start_sender_daemon(body_limit=senders.SMALL_BODY_LIMIT)
        body = harness.sample("calendly/invitee_canceled.json")
        self.check_malformed_json_is_400(d, b'{"event":"invitee.canceled","payload":')
        self.check_wrong_content_type_is_415(d, body)
        self.check_get_is_405_with_allow(d)
        self.check_over_body_limit_is_413(d, senders.padded(json.loads(body)))
        self.assertNothingReachedClose()
        # the sample itself is under the limit and still goes through
        self.assertQueued(self.send(d, body))
        self.wait_successful_puts(1)


if __name__ == "__main__":
    harness.run()
