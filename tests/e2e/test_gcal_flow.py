"""Google Calendar push notifications end to end: "sync" is answered 200 with
the right channel token and 401 with a wrong one, and reaches nothing; an
"exists" push with the right token becomes exactly one PUT; a wrong token none;
a repeated message one; and the malformed-input table holds as far as a
body-less sender has one.

A push says only "this calendar changed", never which event (senders.md), so
the rules name their Close activity literally, as the README tells users to."""

import unittest

import harness
from harness import post
import senders
from senders import GCAL_TOKEN, SenderTestCase, gcal_headers, meeting_with_id

ACTIVITY_ID = "acti_gcal_1"
PUT_PATH = f"/api/v1/activity/meeting/{ACTIVITY_ID}/"

ROUTES = [
    {"name": "google", "source": "gcal", "secret": "env:GCAL_SECRET", "credential": "close",
     "rules": [
         {"event": "exists", "activity_id": ACTIVITY_ID,
          "note": "<p>Google Calendar changed (channel {{channel_id}}, resource {{resource_id}}, "
                  "message {{message_number}}).</p>",
          "note_mode": "replace"},
     ]},
]


def exists_body(number=10):
    return {"user_note_html": "<p>Google Calendar changed (channel 01234567-89ab-cdef-0123-456789abcdef, "
                              f"resource ret08u3rv24htgh289g, message {number}).</p>"}


class GcalCase(SenderTestCase):
    ROUTES = ROUTES
    ROUTE = "google"
    SECRET = GCAL_TOKEN

    def setUp(self):
        super().setUp()
        self.fake.add_meeting(meeting_with_id(ACTIVITY_ID))

    def push(self, daemon, headers, body=b"", content_type=None):
        """Google's push: a POST with the X-Goog-* headers and no body."""
        return post(daemon.port, self.hook(), body, headers, content_type=content_type)

    def sign(self, body):
        return gcal_headers()


class GcalFlow(GcalCase):
    def test_sync_is_answered_200_and_nothing_else(self):
        d = self.start_sender_daemon()
        status, headers, body = self.push(d, gcal_headers(state="sync", number=1))
        self.assertEqual(status, 200, body)
        self.assertEqual(body, b"")
        self.assertEqual(headers.get("content-length"), "0")
        self.assertNothingReachedClose()

    def test_sync_with_a_wrong_or_missing_token_is_401(self):
        d = self.start_sender_daemon()
        self.assertUnauthorized(self.push(d, gcal_headers(token="not-our-token", state="sync", number=1)))
        self.assertUnauthorized(self.push(d, gcal_headers(token=None, state="sync", number=1)))
        self.assertNothingReachedClose()

    def test_exists_is_one_put_to_the_named_activity(self):
        d = self.start_sender_daemon()
        self.assertQueued(self.push(d, gcal_headers()))
        (put,) = self.wait_successful_puts(1)
        self.assertClosePut(put, PUT_PATH, exists_body())
        self.assertEqual(self.fake.lookups(), [], "a literal id must not need a lookup")

    def test_wrong_or_missing_token_is_401_and_no_put(self):
        d = self.start_sender_daemon()
        self.assertUnauthorized(self.push(d, gcal_headers(token="not-our-token")))
        self.assertUnauthorized(self.push(d, gcal_headers(token=GCAL_TOKEN + "x")))
        self.assertUnauthorized(self.push(d, gcal_headers(token=None)))
        self.assertNothingReachedClose()

    def test_repeated_message_is_one_put(self):
        d = self.start_sender_daemon()
        first = self.assertQueued(self.push(d, gcal_headers(number=10)))
        self.assertDuplicateOf(self.push(d, gcal_headers(number=10)), first)
        (put,) = self.wait_successful_puts(1)
        self.assertClosePut(put, PUT_PATH, exists_body(10))
        # the channel's next message is a new change, so a new update
        self.assertQueued(self.push(d, gcal_headers(number=11)))
        puts = self.wait_successful_puts(2)
        self.assertEqual(puts[1].json(), exists_body(11))

    def test_not_exists_without_a_rule_is_ignored(self):
        d = self.start_sender_daemon()
        doc = self.assertJSONAnswer(self.push(d, gcal_headers(state="not_exists", number=12)), 200,
                                    status="ignored")
        self.assertIn("not_exists", doc.get("reason", ""))
        self.assertNothingReachedClose()

    def test_unknown_or_missing_state_is_400(self):
        d = self.start_sender_daemon()
        self.assertJSONAnswer(self.push(d, gcal_headers(state="bogus")), 400, error="bad_request", detail=...)
        hdrs = {k: v for k, v in gcal_headers().items() if k != "X-Goog-Resource-State"}
        self.assertJSONAnswer(self.push(d, hdrs), 400, error="bad_request", detail=...)
        self.assertNothingReachedClose()


class GcalMalformed(GcalCase):
    def setUp(self):
        super().setUp()
        self.d = self.start_sender_daemon(body_limit=senders.SMALL_BODY_LIMIT)

    def test_get_is_405_and_a_body_over_the_limit_is_413(self):
        # a push has no body, so there is no malformed JSON to send
        self.check_get_is_405_with_allow(self.d)
        big = b"x" * (2 * senders.SMALL_BODY_LIMIT)
        self.assertJSONAnswer(self.push(self.d, gcal_headers(), big), 413, error=...)
        self.assertNothingReachedClose()
        self.assertQueued(self.push(self.d, gcal_headers()))
        self.wait_successful_puts(1)

    # The README says a body of the wrong content type is a 415; a push
    # has no body, so any body is of the wrong type.
    def test_a_body_is_415(self):
        for ctype in ("text/plain", "application/x-www-form-urlencoded"):
            answer = self.push(self.d, gcal_headers(), b"hello", content_type=ctype)
            self.assertJSONAnswer(answer, 415, error=...)
        self.assertNothingReachedClose()


if __name__ == "__main__":
    harness.run()
