"""Zoom webhooks end to end: signed events become exactly one PUT to the Close
meeting found through its Zoom join URL; handshakes, duplicates and events no
rule maps never reach Close."""

import datetime
import hashlib
import hmac
import json
import time

import harness
from harness import (E2ETestCase, MEETING_PATH, SAMPLE_ACTIVITY_ID, ZOOM_SECRET, basic_auth,
                     CLOSE_API_KEY, SETTLE_S)

ENDED_BODY = {"outcome_id": "outcome_held",
              "user_note_html": "<p>Zoom meeting Acme Corp — pricing follow-up ended after 42 min.</p>"}
ZOOM_START = datetime.datetime(2026, 11, 25, 9, 0, 3, tzinfo=datetime.timezone.utc)


def parse_time(text):
    value = datetime.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


class ZoomFlow(E2ETestCase):
    def assertLookupAround(self, rec, start=ZOOM_START):
        """A meeting-list lookup with a time window holding the Zoom start time."""
        self.assertEqual(rec.path, "/api/v1/activity/meeting/")
        self.assertEqual(rec.headers.get("authorization"), basic_auth(CLOSE_API_KEY))
        self.assertTrue(rec.headers.get("user-agent", "").startswith("closehook/"))
        self.assertIn("activity_at__gte", rec.query, rec)
        self.assertIn("activity_at__lte", rec.query, rec)
        self.assertLessEqual(parse_time(rec.query["activity_at__gte"]), start)
        self.assertGreaterEqual(parse_time(rec.query["activity_at__lte"]), start)

    def test_meeting_ended_updates_the_meeting(self):
        d = self.start_daemon()
        self.assertQueued(self.send_zoom(d, "zoom/meeting_ended.json"))
        (put,) = self.wait_successful_puts(1)
        self.assertClosePut(put, MEETING_PATH, ENDED_BODY)
        lookups = [r for r in self.fake.lookups() if r.time <= put.time]
        self.assertTrue(lookups, "no meeting-list lookup before the PUT")
        self.assertLookupAround(lookups[0])
        self.assertEqual(self.fake.meeting(SAMPLE_ACTIVITY_ID)["outcome_id"], "outcome_held")

    def test_summary_completed_writes_the_escaped_summary(self):
        d = self.start_daemon()
        self.assertQueued(self.send_zoom(d, "zoom/summary_completed.json"))
        (put,) = self.wait_successful_puts(1)
        doc = self.assertClosePut(put)
        self.assertEqual(set(doc), {"outcome_id", "user_note_html"})
        self.assertEqual(doc["outcome_id"], "outcome_summary")
        note = doc["user_note_html"]
        self.assertIn("<h3>Pricing follow-up with Acme</h3>", note)
        self.assertIn("&lt;Decision&gt; due Friday &amp; legal review pending", note)
        self.assertIn("<ul><li>Send revised quote by Thursday</li>"
                      "<li>Book security review with their IT lead</li></ul>", note)
        self.assertNotIn("<Decision>", note)
        self.assertTrue(self.fake.lookups(), "no meeting-list lookup")
        self.assertLookupAround(self.fake.lookups()[0])

    def test_url_validation_is_answered_without_close(self):
        d = self.start_daemon()
        body = harness.sample("zoom/url_validation.json")
        plain = json.loads(body)["payload"]["plainToken"]
        doc = self.assertJSONAnswer(self.send_zoom(d, body), 200)
        expected = hmac.new(ZOOM_SECRET.encode(), plain.encode(), hashlib.sha256).hexdigest()
        self.assertEqual(doc, {"plainToken": plain, "encryptedToken": expected})
        time.sleep(SETTLE_S)  # watching for requests, not asserting on timing
        self.assertEqual(self.fake.requests(), [])

    def test_same_event_twice_is_delivered_once(self):
        d = self.start_daemon()
        first = self.assertQueued(self.send_zoom(d, "zoom/meeting_ended.json"))
        second = self.assertJSONAnswer(self.send_zoom(d, "zoom/meeting_ended.json"), 200,
                                       status="duplicate", id=first["id"])
        self.assertEqual(second["id"], first["id"])
        (put,) = self.wait_successful_puts(1)
        self.assertClosePut(put, MEETING_PATH, ENDED_BODY)
        self.assertEqual(len(self.fake.puts()), 1)
        # a retry after delivery is still a duplicate, not a second update
        self.assertJSONAnswer(self.send_zoom(d, "zoom/meeting_ended.json"), 200,
                              status="duplicate", id=first["id"])
        self.assertNoExtraPut(1)

    def test_event_no_rule_maps_is_ignored(self):
        d = self.start_daemon()
        doc = self.assertJSONAnswer(self.send_zoom(d, "zoom/participant_joined.json"), 200,
                                    status="ignored")
        self.assertIn("reason", doc)
        time.sleep(SETTLE_S)  # watching for requests, not asserting on timing
        self.assertEqual(self.fake.requests(), [])

    def test_resolve_retries_until_close_has_synced_the_meeting(self):
        self.fake.remove_meeting(SAMPLE_ACTIVITY_ID)
        d = self.start_daemon()
        self.assertQueued(self.send_zoom(d, "zoom/meeting_ended.json"))
        got = self.fake.wait_for(lambda f: len(f.lookups()) >= 2)
        self.assertTrue(got, f"expected repeated lookups, saw {self.fake.requests()}")
        self.assertEqual(self.fake.puts(), [])
        self.fake.add_meeting(harness.sample_meeting())
        (put,) = self.wait_successful_puts(1)
        self.assertClosePut(put, MEETING_PATH, ENDED_BODY)

    def test_recurring_zoom_id_picks_the_occurrence_in_the_window(self):
        later = harness.sample_meeting()
        later["id"] = "acti_nextWeekOccurrence000000000000000000000000"
        later["starts_at"] = "2026-12-02T09:00:00+00:00"
        later["ends_at"] = "2026-12-02T09:45:00+00:00"
        self.fake.add_meeting(later)
        d = self.start_daemon()
        self.assertQueued(self.send_zoom(d, "zoom/meeting_ended.json"))
        (put,) = self.wait_successful_puts(1)
        self.assertClosePut(put, MEETING_PATH, ENDED_BODY)

    def test_two_matching_meetings_are_never_guessed(self):
        twin = harness.sample_meeting()
        twin["id"] = "acti_twinSameZoomLinkSameTime00000000000000000000"
        twin["starts_at"] = "2026-11-25T09:05:00+00:00"
        self.fake.add_meeting(twin)
        d = self.start_daemon()
        self.assertQueued(self.send_zoom(d, "zoom/meeting_ended.json"))
        self.assertTrue(self.fake.wait_for(lambda f: f.lookups()), "no lookup")
        # ambiguous is a dead letter at once: no PUT, and no second lookup round
        # (a round starts at _skip 0; later pages of the same round are fine)
        time.sleep(SETTLE_S * 2)  # watching for retries, not asserting on timing
        self.assertEqual(self.fake.puts(), [])
        rounds = [r for r in self.fake.lookups() if r.query.get("_skip", "0") == "0"]
        self.assertEqual(len(rounds), 1, f"lookups: {self.fake.lookups()}")

    def assertNoExtraPut(self, n):
        time.sleep(SETTLE_S)  # watching for extras, not asserting on timing
        self.assertEqual(len(self.fake.puts()), n, self.fake.puts())


if __name__ == "__main__":
    harness.run()
