"""What the Calendly, Standard Webhooks, Microsoft Graph and Google Calendar
end-to-end tests share: each sender's signing (computed here in Python, with
current timestamps, from the vendors' documented schemes in senders.md), the
test secrets, and a test base with the checks of the README's malformed-input
table, so every sender's test file asks the same questions of its route.

Built on harness.py without changing it: the secrets reach the daemon through
start_daemon's env, the routes through its routes argument."""

import base64
import copy
import hashlib
import hmac
import json
import time
import urllib.parse

import harness
from harness import E2ETestCase, SETTLE_S, post, request

# Secrets exist only in the daemon's environment (the configs hold env: refs).
CALENDLY_KEY = "calendly-e2e-signing-key-31"
# Standard Webhooks secrets are "whsec_" + base64 of the HMAC key.
STDWEBHOOKS_KEY = b"stdwebhooks-e2e-key-0123456789ab"
STDWEBHOOKS_SECRET = "whsec_" + base64.b64encode(STDWEBHOOKS_KEY).decode()
GRAPH_CLIENT_STATE = "graph-e2e-client-state-58"
GCAL_TOKEN = "gcal-e2e-channel-token-19"

SENDER_ENV = {
    "CALENDLY_SECRET": CALENDLY_KEY,
    "STDWEBHOOKS_SECRET": STDWEBHOOKS_SECRET,
    "GRAPH_SECRET": GRAPH_CLIENT_STATE,
    "GCAL_SECRET": GCAL_TOKEN,
}

# The sample notifications' clientState, replaced by ours before sending.
SAMPLE_CLIENT_STATE = "secretClientValue"

# Small enough that a padded sample exceeds it, large enough for every sample
# as is (the largest, calendly/invitee_created.json, is under 2 KiB).
SMALL_BODY_LIMIT = 4096


# ---- signing ------------------------------------------------------------

def now():
    return int(time.time())


def calendly_headers(key, body, ts=None, extra_v1=()):
    """Calendly-Webhook-Signature: t=<unix>,v1=<hex HMAC(key, t + "." + body)>;
    extra_v1 adds further v1 elements first (a key roll)."""
    ts = now() if ts is None else int(ts)
    mac = hmac.new(key.encode(), b"%d." % ts + body, hashlib.sha256).hexdigest()
    parts = [f"t={ts}"] + [f"v1={v}" for v in extra_v1] + [f"v1={mac}"]
    return {"Calendly-Webhook-Signature": ",".join(parts)}


def stdwebhooks_signature(secret, msg_id, ts, body):
    """v1,<base64 HMAC(key, id + "." + timestamp + "." + body)>, key from whsec_."""
    key = base64.b64decode(secret[len("whsec_"):] if secret.startswith("whsec_") else secret)
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def stdwebhooks_headers(secret, msg_id, body, ts=None, prefix="webhook", extra=()):
    """The three headers, in the spec's spelling or Svix's (prefix="svix");
    extra entries go before ours in the space-separated signature list."""
    ts = now() if ts is None else int(ts)
    sig = " ".join(list(extra) + [stdwebhooks_signature(secret, msg_id, ts, body)])
    return {f"{prefix}-id": msg_id, f"{prefix}-timestamp": str(ts), f"{prefix}-signature": sig}


def graph_body(rel, client_state=GRAPH_CLIENT_STATE):
    """A Graph sample with our clientState in every entry, as Graph would send
    it for a subscription created with that clientState."""
    doc = json.loads(harness.sample(rel))
    for entry in doc["value"]:
        if entry.get("clientState") == SAMPLE_CLIENT_STATE:
            entry["clientState"] = client_state
    return json.dumps(doc).encode()


def gcal_headers(token=GCAL_TOKEN, state="exists", number=10,
                 channel="01234567-89ab-cdef-0123-456789abcdef", resource_id="ret08u3rv24htgh289g"):
    """A Google Calendar push's headers (samples/gcal/headers.txt); token None
    leaves the channel token out."""
    hdrs = {
        "X-Goog-Channel-ID": channel,
        "X-Goog-Channel-Expiration": "Wed, 02 Dec 2026 09:00:00 GMT",
        "X-Goog-Resource-ID": resource_id,
        "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/calendars/primary/events?alt=json",
        "X-Goog-Resource-State": state,
        "X-Goog-Message-Number": str(number),
    }
    if token is not None:
        hdrs["X-Goog-Channel-Token"] = token
    return hdrs


def quote_token(token):
    """URL-encodes a validationToken as Graph does (space as %20)."""
    return urllib.parse.quote(token, safe="")


def meeting_with_id(activity_id, **changes):
    """The sample Close meeting under another id, for rules naming it literally."""
    m = copy.deepcopy(harness.sample_meeting())
    m["id"] = activity_id
    m.update(changes)
    return m


# ---- the test base ------------------------------------------------------

class SenderTestCase(E2ETestCase):
    """A daemon per test with this sender's ROUTES and the sender secrets in
    its environment; plus the malformed-input table, asked of ROUTE.

    Subclasses set ROUTES, ROUTE and SECRET (the text that must never appear
    in an answer), and implement sign(body) -> headers for a good request."""

    ROUTES = None
    ROUTE = None
    SECRET = None

    def start_sender_daemon(self, **config):
        return self.start_daemon(env=SENDER_ENV, routes=self.ROUTES, **config)

    def hook(self, route=None):
        return f"/hooks/{route or self.ROUTE}"

    def sign(self, body):
        raise NotImplementedError

    def send(self, daemon, body, headers=None, content_type="application/json", query=""):
        """POSTs body (a sample path or bytes), signed by sign() unless headers are given."""
        if isinstance(body, str):
            body = harness.sample(body)
        hdrs = self.sign(body) if headers is None else headers
        return post(daemon.port, self.hook() + query, body, hdrs, content_type=content_type)

    # -- assertions --

    def assertNothingReachedClose(self):
        time.sleep(SETTLE_S)  # watching for requests, not asserting on timing
        self.assertEqual(self.fake.requests(), [])

    def assertUnauthorized(self, answer):
        doc = self.assertJSONAnswer(answer, 401, error="unauthorized", detail=...)
        self.assertNotIn(self.SECRET, json.dumps(doc))
        self.assertNotIn(self.SECRET.encode(), answer[2])
        return doc

    def assertDuplicateOf(self, answer, first):
        return self.assertJSONAnswer(answer, 200, status="duplicate", id=first["id"])

    # -- the malformed-input table --

    def check_get_is_405_with_allow(self, daemon):
        answer = request(daemon.port, "GET", self.hook())
        self.assertJSONAnswer(answer, 405, error=...)
        allow = answer[1].get("allow", "")
        self.assertIn("POST", [m.strip() for m in allow.split(",")], f"Allow: {allow!r}")

    def check_malformed_json_is_400(self, daemon, body=b'{"value": [{"clientState": '):
        """Signed as a sender would sign it: the bytes, not their meaning."""
        self.assertJSONAnswer(self.send(daemon, body), 400, error="bad_request", detail=...)

    def check_wrong_content_type_is_415(self, daemon, body):
        for ctype in ("text/plain", "application/x-www-form-urlencoded"):
            answer = self.send(daemon, body, content_type=ctype)
            self.assertJSONAnswer(answer, 415, error=...)

    def check_over_body_limit_is_413(self, daemon, body):
        self.assertGreater(len(body), SMALL_BODY_LIMIT)
        self.assertJSONAnswer(self.send(daemon, body), 413, error=...)


def padded(doc, key="padding"):
    """doc (a dict) with a string member that takes it over SMALL_BODY_LIMIT."""
    doc = copy.deepcopy(doc)
    doc[key] = "x" * (2 * SMALL_BODY_LIMIT)
    return json.dumps(doc).encode()
