"""Hostile input from both sides: a body of 1.3M '[' then 1.3M ']' sent to
every route, and a Close that answers a meeting GET with 3M nested brackets.
The daemon runs with a 4 MiB body_limit under a 1 MiB stack (threads inherit
RLIMIT_STACK), where an unbounded tree walk used to die with SIGSEGV. Each
request gets a clear 4xx, the daemon stays up, and a webhook acknowledged
beside the poison is still delivered."""

import base64
import hashlib
import hmac
import json
import resource
import time

import harness
from harness import (CLOSE_API_KEY, GENERIC_SECRET, SAMPLE_ACTIVITY_ID, ZOOM_SECRET, E2ETestCase, post,
                     request, zoom_headers, generic_headers)

BODY_LIMIT = 4 * 1024 * 1024
STACK_BYTES = 1024 * 1024
DEEP = b"[" * 1300000 + b"]" * 1300000
POISON_ID = "acti_poisonedAnswerFromClose000000000000000"
SECRETS = {"CALENDLY_SECRET": "calendly-hostile-key", "STDWEBHOOKS_SECRET":
           "whsec_" + base64.b64encode(b"hostile-stdwebhooks-key").decode(),
           "GRAPH_SECRET": "graph-hostile-state", "GCAL_SECRET": "gcal-hostile-token"}
NOTE_RULE = {"event": "call_outcome", "note": "<p>{{notes}}</p>", "note_mode": "append"}
ROUTES = harness.ROUTES + [
    {"name": "appender", "source": "generic", "secret": "env:GENERIC_SECRET", "credential": "close",
     "event_type_path": "event", "activity_id_path": "close.activity_id", "dedup_path": "id",
     "rules": [NOTE_RULE]},
    {"name": "calendly", "source": "calendly", "secret": "env:CALENDLY_SECRET", "credential": "close",
     "rules": [{"event": "invitee.canceled", "outcome_id": "outcome_canceled"}]},
    {"name": "std", "source": "stdwebhooks", "secret": "env:STDWEBHOOKS_SECRET", "credential": "close",
     "activity_id_path": "data.close_activity_id",
     "rules": [{"event": "meeting.completed", "outcome_id": "outcome_done"}]},
    {"name": "outlook", "source": "msgraph", "secret": "env:GRAPH_SECRET", "credential": "close",
     "rules": [{"event": "updated", "activity_id": SAMPLE_ACTIVITY_ID, "note": "<p>updated</p>"}]},
    {"name": "google", "source": "gcal", "secret": "env:GCAL_SECRET", "credential": "close",
     "rules": [{"event": "exists", "activity_id": SAMPLE_ACTIVITY_ID, "note": "<p>changed</p>"}]},
]


def small_stack():
    resource.setrlimit(resource.RLIMIT_STACK, (STACK_BYTES, STACK_BYTES))


def signed_headers(route, body):
    """Valid signatures where a route signs the body, so the deep body gets past
    verification and reaches the parser (the worst case)."""
    ts = str(int(time.time()))
    if route == "zoom":
        return zoom_headers(ZOOM_SECRET, body)
    if route in ("notetaker", "appender"):
        return generic_headers(GENERIC_SECRET, body)
    if route == "calendly":
        mac = hmac.new(SECRETS["CALENDLY_SECRET"].encode(), ts.encode() + b"." + body, hashlib.sha256)
        return {"Calendly-Webhook-Signature": f"t={ts},v1={mac.hexdigest()}"}
    if route == "std":
        key = base64.b64decode(SECRETS["STDWEBHOOKS_SECRET"][len("whsec_"):])
        mac = hmac.new(key, b"msg_hostile." + ts.encode() + b"." + body, hashlib.sha256).digest()
        return {"webhook-id": "msg_hostile", "webhook-timestamp": ts,
                "webhook-signature": "v1," + base64.b64encode(mac).decode()}
    if route == "google":
        return {"X-Goog-Channel-Token": SECRETS["GCAL_SECRET"], "X-Goog-Resource-State": "exists"}
    return {}


class HostileInput(E2ETestCase):
    def setUp(self):
        super().setUp()
        self.d = self.start_daemon(env=SECRETS, preexec=small_stack, body_limit=BODY_LIMIT, routes=ROUTES)

    def assertAlive(self):
        self.assertTrue(self.d.running(), f"daemon died:\n{self.d.log_tail()}")
        self.assertEqual(request(self.d.port, "GET", "/healthz")[0], 200)

    def test_deep_body_on_every_route_is_refused_and_the_daemon_lives(self):
        for rt in ROUTES:
            name = rt["name"]
            for headers in ({}, signed_headers(name, DEEP)):
                status, _, body = post(self.d.port, f"/hooks/{name}", DEEP, headers)
                self.assertIn(status, (400, 401, 415), f"{name}: {status} {body[:200]!r}")
                doc = json.loads(body)
                self.assertIn("error", doc, name)
                if status == 400:
                    self.assertIn("nested deeper", doc.get("detail", ""), name)
                self.assertAlive()
        self.assertEqual(self.fake.requests(), [])

    def test_escaped_nul_never_truncates_an_id(self):
        body = json.dumps({"id": "evt-nul", "event": "call_outcome", "outcome": "no_show",
                           "close": {"activity_id": "acti_n\u0000ul"}, "notes": "x"}).encode()
        self.assertIn(b"\\u0000", body)
        doc = self.assertJSONAnswer(self.send_generic(self.d, body), 400, error="bad_request")
        self.assertIn("\\u0000", doc["detail"])
        self.assertEqual(self.fake.requests(), [])

    def test_close_answering_3m_brackets_crashes_nothing_and_loses_nothing(self):
        self.fake.add_meeting(dict(harness.sample_meeting(), id=POISON_ID))
        self.fake.set_raw_get(POISON_ID, b"[" * 3000000 + b"]" * 3000000)
        poison = json.dumps({"id": "evt-poison", "event": "call_outcome", "notes": "n",
                             "close": {"activity_id": POISON_ID}}).encode()
        self.assertQueued(self.send_generic(self.d, poison, route="appender"))
        self.fake.wait_for(lambda f: any(r.path.endswith(POISON_ID + "/") for r in f.gets()))
        good = json.dumps({"id": "evt-good", "event": "call_outcome", "outcome": "no_show", "notes": "ok",
                           "close": {"activity_id": SAMPLE_ACTIVITY_ID}}).encode()
        self.assertQueued(self.send_generic(self.d, good))
        (put,) = self.wait_successful_puts(1)
        self.assertEqual(put.path, harness.MEETING_PATH)
        self.assertEqual(put.headers["authorization"], harness.basic_auth(CLOSE_API_KEY))
        self.assertAlive()
        self.assertFalse(any(r.path.endswith(POISON_ID + "/") for r in self.fake.puts()),
                         "nothing was appended to a note Close never showed us")
        retried = [e for e in self.d.logs() if "not a JSON object" in json.dumps(e)]
        self.assertTrue(retried, "the broken answer is retried with a reason")


if __name__ == "__main__":
    harness.run()
