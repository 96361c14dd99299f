"""The daemon's log as an operator's collector reads it: a full run through the
real binary with every kind of secret configured (Close API key, bearer token
from a file, OAuth pair and client secret, each sender's signing secret, the
admin token), failures included (bad and missing signatures, a stale
timestamp, Close answering 401, an OAuth refresh, dry-run lines, a reload),
then every line of the whole log is one JSON object with time, level and msg,
access lines carry request_id, method, path, status and duration_ms, and no
line holds any secret in any spelling (as is, base64 of it or of the Basic
header's "key:", URL-encoded). X-Request-Id from the load balancer is echoed
back, logged and sent with the Close PUT; one is generated when absent or
unusable; the access log can be switched off."""

import base64
import json
import os
import re
import signal
import uuid

import harness
from harness import (CLOSE_API_KEY, GENERIC_SECRET, ZOOM_SECRET, E2ETestCase, free_port, post,
                     request, wait_until)
import senders
from senders import (CALENDLY_KEY, GCAL_TOKEN, GRAPH_CLIENT_STATE, STDWEBHOOKS_KEY, STDWEBHOOKS_SECRET,
                     calendly_headers, gcal_headers, graph_body, meeting_with_id, stdwebhooks_headers)
from jsonlog import LogError, check_lines, is_access, secret_forms

BEARER_TOKEN = "bearer_e2eFromAFile_6c1d0e9b"
OAUTH_ACCESS = "cfg_access_logs_e2e_91ab77c2"
OAUTH_REFRESH = "cfg_refresh_logs_e2e_3f0c5d18"
OAUTH_CLIENT_ID = "oa2client_logs_e2e"
# Characters a form body must escape, so its URL-encoded spelling differs.
OAUTH_CLIENT_SECRET = "client&secret=logs+e2e/7d"
ADMIN_TOKEN = "admin-e2e-token-4b19f3a7c2"
ABSENT_ENV = "CLOSEHOOK_E2E_NO_SUCH_KEY"

GRAPH_UPDATED_ID = "acti_logs_graph_updated"
GRAPH_DELETED_ID = "acti_logs_graph_deleted"
GCAL_ID = "acti_logs_gcal"
STD_ID = "acti_logs_std"

CREDENTIALS = {
    "close": {"api_key": "env:CLOSE_API_KEY"},
    "oauth": {"oauth": {"access_token": "env:LOGS_OAUTH_ACCESS", "refresh_token": "env:LOGS_OAUTH_REFRESH",
                        "client_id": OAUTH_CLIENT_ID, "client_secret": "env:LOGS_OAUTH_CLIENT_SECRET"}},
    "bearer": {"bearer_token": None},  # file: reference, filled per test
    # unset in the daemon's environment: routes using it run in dry-run
    "absent": {"api_key": f"env:{ABSENT_ENV}", "dry_run": True},
}


def routes():
    zoom, generic = harness.ROUTES
    return [
        zoom,
        generic,
        {"name": "std", "source": "stdwebhooks", "secret": "env:STDWEBHOOKS_SECRET", "credential": "bearer",
         "activity_id_path": "data.close_activity_id",
         "rules": [{"event": "meeting.completed", "outcome_id": "outcome_demo_done",
                    "note": "<p>Outcome: {{data.outcome}}</p>"}]},
        {"name": "calendly", "source": "calendly", "secret": "env:CALENDLY_SECRET", "credential": "close",
         "rules": [{"event": "invitee.canceled", "outcome_id": "outcome_canceled",
                    "note": "<p>Canceled: {{payload.cancellation.reason}}</p>"}]},
        {"name": "outlook", "source": "msgraph", "secret": "env:GRAPH_SECRET", "credential": "oauth",
         "rules": [{"event": "updated", "activity_id": GRAPH_UPDATED_ID,
                    "note": "<p>Outlook event {{resourceData.id}} was updated.</p>", "note_mode": "replace"},
                   {"event": "deleted", "activity_id": GRAPH_DELETED_ID, "outcome_id": "outcome_canceled"}]},
        {"name": "google", "source": "gcal", "secret": "env:GCAL_SECRET", "credential": "absent",
         "rules": [{"event": "exists", "activity_id": GCAL_ID,
                    "note": "<p>Calendar changed ({{message_number}}).</p>", "note_mode": "replace"}]},
    ]


def outcome(event_id):
    doc = json.loads(harness.sample("generic/outcome.json"))
    doc["id"] = event_id
    return json.dumps(doc).encode()


def std_body():
    doc = json.loads(harness.sample("stdwebhooks/meeting_completed.json"))
    doc["data"]["close_activity_id"] = STD_ID
    return json.dumps(doc).encode()


def basic_header_forms(key):
    """A Basic header's credential, "key:" base64-encoded, and the header itself."""
    b64 = base64.b64encode((key + ":").encode()).decode()
    return {b64, "Basic " + b64}


class LogCase(E2ETestCase):
    def log_lines(self, d):
        try:
            return check_lines(d.log_text())
        except LogError as e:
            self.fail(f"{d.log_path}: {e}")

    def access_lines(self, d, request_id=None):
        return [o for o in self.log_lines(d)
                if is_access(o) and (request_id is None or o["request_id"] == request_id)]

    def assertAccessLogged(self, d, rid, method, path, status):
        """Exactly one access line for request id rid, and it says what happened."""
        got = wait_until(lambda: self.access_lines(d, rid), timeout=5)
        self.assertEqual(len(got), 1, f"access lines for {rid}: {got}")
        line = got[0]
        self.assertEqual((line["method"], line["path"], str(line["status"])), (method, path, str(status)), line)
        return line


class FullRun(LogCase):
    def setUp(self):
        super().setUp()
        self.fake.configure_oauth(OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_REFRESH)
        self.fake.add_access_token(OAUTH_ACCESS)
        self.fake.expire_access_tokens()  # the config's access token is dead: a refresh follows
        self.fake.accept_bearer_token(BEARER_TOKEN)
        for aid in (GRAPH_UPDATED_ID, GRAPH_DELETED_ID, GCAL_ID, STD_ID):
            # other meetings, so the Zoom and Calendly lookups still find exactly one
            self.fake.add_meeting(meeting_with_id(aid, conference_links=[], provider_calendar_event_id=None,
                                                  starts_at="2026-06-01T09:00:00+00:00",
                                                  ends_at="2026-06-01T09:45:00+00:00"))
        self.bearer_file = os.path.join(self.tmp, "bearer.token")
        with open(self.bearer_file, "w") as f:
            f.write(BEARER_TOKEN + "\n")
        self.sent = []  # (request id, method, path, status) of every request we made

    def start(self):
        creds = json.loads(json.dumps(CREDENTIALS))
        creds["bearer"]["bearer_token"] = "file:" + self.bearer_file
        self.admin_port = free_port()
        env = dict(senders.SENDER_ENV, LOGS_OAUTH_ACCESS=OAUTH_ACCESS, LOGS_OAUTH_REFRESH=OAUTH_REFRESH,
                   LOGS_OAUTH_CLIENT_SECRET=OAUTH_CLIENT_SECRET, ADMIN_TOKEN=ADMIN_TOKEN)
        env.pop(ABSENT_ENV, None)
        # Under a sanitizer build LeakSanitizer lists the suppressions it used
        # (tests/lsan.supp) on stderr at exit; that table is not a log line.
        # A real leak report would still be there, and fail the JSON check.
        if "LSAN_OPTIONS" in os.environ:
            env["LSAN_OPTIONS"] = os.environ["LSAN_OPTIONS"] + ":print_suppressions=0"
        d = self.start_daemon(env=env, routes=routes(), extra={
            "credentials": creds,
            "admin": {"listen": {"host": "127.0.0.1", "port": self.admin_port}, "token": "env:ADMIN_TOKEN"}})
        self.assertNotIn(ABSENT_ENV, d.env)
        return d

    def call(self, port, method, path, body=None, headers=None, content_type="application/json", want=None):
        """One request with a fresh X-Request-Id; checks it is echoed; records it."""
        rid = "lb-" + uuid.uuid4().hex
        hdrs = dict(headers or {}, **{"X-Request-Id": rid})
        if body is not None and content_type is not None:
            hdrs["Content-Type"] = content_type
        status, rh, data = request(port, method, path, body=body, headers=hdrs)
        if want is not None:
            self.assertEqual(status, want, f"{method} {path}: {data[:300]!r}")
        self.assertEqual(rh.get("x-request-id"), rid, f"{method} {path} did not echo X-Request-Id")
        self.sent.append((rid, method, path.split("?")[0], status, port))
        return status, rh, data

    def hook(self, d, route, body, headers, want, content_type="application/json", query=""):
        return self.call(d.port, "POST", f"/hooks/{route}{query}", body, headers, content_type, want)

    def secrets(self):
        plain = [CLOSE_API_KEY, ZOOM_SECRET, GENERIC_SECRET, STDWEBHOOKS_SECRET, STDWEBHOOKS_KEY,
                 STDWEBHOOKS_SECRET[len("whsec_"):], CALENDLY_KEY, GRAPH_CLIENT_STATE, GCAL_TOKEN,
                 BEARER_TOKEN, OAUTH_ACCESS, OAUTH_REFRESH, OAUTH_CLIENT_SECRET, ADMIN_TOKEN,
                 f"{OAUTH_CLIENT_ID}:{OAUTH_CLIENT_SECRET}",
                 *self.fake.access_tokens(), *self.fake.refresh_tokens()]
        out = {}
        for s in plain:
            for form in secret_forms(s):
                out[form] = s
        for form in basic_header_forms(CLOSE_API_KEY):
            out[form] = CLOSE_API_KEY
        return out

    def test_full_run_log_is_json_lines_without_secrets(self):
        d = self.start()

        # Close refuses the API key once: a dead letter with Close's 401
        self.fake.fail_next_puts([401])
        self.hook(d, "notetaker", outcome("evt_logs_401"), harness.generic_headers(GENERIC_SECRET,
                                                                                    outcome("evt_logs_401")), 202)
        self.assertTrue(wait_until(lambda: [o for o in self.log_lines(d) if o["msg"] == "dead letter"]),
                        f"no dead letter after Close's 401:\n{d.log_tail()}")
        self.assertEqual([p.status for p in self.fake.puts()], [401])

        # every sender, signed right and wrong
        ended = harness.sample("zoom/meeting_ended.json")
        self.hook(d, "zoom", ended, harness.zoom_headers(ZOOM_SECRET, ended), 202)
        self.hook(d, "zoom", ended, harness.zoom_headers("wrong-zoom-secret", ended), 401)
        self.hook(d, "zoom", ended, harness.zoom_headers(ZOOM_SECRET, ended, ts=1), 401)
        validation = harness.sample("zoom/url_validation.json")
        self.hook(d, "zoom", validation, harness.zoom_headers(ZOOM_SECRET, validation), 200)
        ok = outcome("evt_logs_ok")
        self.hook(d, "notetaker", ok, harness.generic_headers(GENERIC_SECRET, ok), 202)
        self.hook(d, "notetaker", ok, {}, 401)
        std = std_body()
        self.hook(d, "std", std, stdwebhooks_headers(STDWEBHOOKS_SECRET, "msg_logs_1", std), 202)
        self.hook(d, "std", std, stdwebhooks_headers("whsec_" + base64.b64encode(b"x" * 24).decode(),
                                                     "msg_logs_2", std), 401)
        canceled = harness.sample("calendly/invitee_canceled.json")
        self.hook(d, "calendly", canceled, calendly_headers(CALENDLY_KEY, canceled), 202)
        self.hook(d, "calendly", canceled, calendly_headers("wrong-calendly-key", canceled), 401)
        self.hook(d, "outlook", b"", {}, 200, content_type="text/plain; charset=utf-8",
                  query="?validationToken=Validation%3A%20Testing%20client%20application")
        self.hook(d, "outlook", graph_body("msgraph/notification.json"), {}, 202)
        self.hook(d, "outlook", graph_body("msgraph/notification.json", "wrong-client-state"), {}, 401)
        self.hook(d, "google", b"", gcal_headers(), 202, content_type=None)
        self.hook(d, "google", b"", gcal_headers(token="wrong-channel-token"), 401, content_type=None)

        # operators' requests: health, readiness, metrics, the admin API
        self.call(d.port, "GET", "/healthz?probe=lb", want=200)
        self.call(d.port, "GET", "/readyz", want=200)
        self.call(self.admin_port, "GET", "/metrics", headers={"Authorization": "Bearer " + ADMIN_TOKEN}, want=200)
        self.call(self.admin_port, "GET", "/admin/dlq", headers={"Authorization": "Bearer wrong-admin"},
                  want=401)
        _, _, dlq = self.call(self.admin_port, "GET", "/admin/dlq",
                              headers={"Authorization": "Bearer " + ADMIN_TOKEN}, want=200)
        self.assertIn(b"401", dlq)

        # zoom, generic, std, calendly, two Graph entries (the first after a refresh)
        self.fake.wait_for(lambda f: len(f.successful_puts()) >= 6)
        self.assertEqual(len(self.fake.successful_puts()), 6, self.fake.requests())
        self.assertGreaterEqual(self.fake.counts()["token"], 1, "the OAuth refresh did not happen")
        ours = {r[0] for r in self.sent}
        # (a token refresh serves every row of its credential: no one webhook's id)
        for rec in [r for r in self.fake.requests() if r.path != "/oauth2/token/"]:
            with self.subTest(close_request=repr(rec)):
                self.assertIn(rec.headers.get("x-request-id"), ours, "a Close request without its webhook's id")
        dry = wait_until(lambda: [o for o in self.log_lines(d) if "dry-run" in o["msg"]])
        self.assertTrue(dry, "no dry-run line for the route whose credential is absent")

        d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: [o for o in self.log_lines(d) if o["msg"] == "config reloaded"]),
                        d.log_tail())
        self.assertEqual(d.stop(), 0, d.log_tail())

        lines = self.log_lines(d)
        for rid, method, path, status, _ in self.sent:
            with self.subTest(request_id=rid, path=path):
                self.assertAccessLogged(d, rid, method, path, status)
        failed = [o for o in lines if o["msg"] == "verification failed"]
        self.assertEqual(len(failed), 7, failed)
        for o in failed:
            self.assertIn(o.get("request_id"), {r[0] for r in self.sent}, o)
        self.assertIn("closehook stopped", [o["msg"] for o in lines])

        text = d.log_text()
        self.assertNotIn("[redacted]", text, "a secret reached log_write (redaction caught it)")
        for form, secret in sorted(self.secrets().items()):
            hits = [line for line in text.splitlines() if form in line]
            self.assertEqual(hits, [], f"a form of secret {secret[:4]!r}… appears in the log")


class RequestIds(LogCase):
    def test_load_balancer_request_id_is_echoed_and_logged(self):
        d = self.start_daemon()
        rid = "haproxy-7f3a9c_01:8080"
        body = outcome("evt_rid")
        status, headers, data = post(d.port, "/hooks/notetaker", body,
                                     dict(harness.generic_headers(GENERIC_SECRET, body), **{"X-Request-Id": rid}))
        self.assertQueued((status, headers, data))
        self.assertEqual(headers.get("x-request-id"), rid)
        self.assertAccessLogged(d, rid, "POST", "/hooks/notetaker", 202)
        queued = [o for o in self.log_lines(d) if o["msg"] == "queued"]
        self.assertEqual([o.get("request_id") for o in queued], [rid], queued)

    def test_verification_failure_is_logged_with_the_request_id(self):
        d = self.start_daemon()
        body = outcome("evt_rid_bad")
        hdrs = dict(harness.generic_headers("not-the-key", body), **{"X-Request-Id": "rid-bad-sig"})
        status, headers, _ = post(d.port, "/hooks/notetaker", body, hdrs)
        self.assertEqual((status, headers.get("x-request-id")), (401, "rid-bad-sig"))
        self.assertAccessLogged(d, "rid-bad-sig", "POST", "/hooks/notetaker", 401)
        failed = [o for o in self.log_lines(d) if o["msg"] == "verification failed"]
        self.assertEqual([o.get("request_id") for o in failed], ["rid-bad-sig"], failed)

    def test_missing_or_unusable_request_id_is_replaced_by_a_generated_one(self):
        d = self.start_daemon()
        seen = set()
        for given in (None, "", "has space", "quote\"d", "x" * 200):
            hdrs = {} if given is None else {"X-Request-Id": given}
            status, headers, _ = request(d.port, "GET", "/healthz", headers=hdrs)
            self.assertEqual(status, 200)
            rid = headers.get("x-request-id")
            with self.subTest(given=given):
                self.assertTrue(rid and re.fullmatch(r"[0-9a-f]{32}", rid), f"generated id {rid!r}")
                self.assertNotIn(rid, seen, "a generated id was reused")
                seen.add(rid)
                self.assertAccessLogged(d, rid, "GET", "/healthz", 200)
        self.assertNotIn("has space", d.log_text())

    def test_request_id_is_carried_to_the_close_put(self):
        """The load balancer's id, or the generated one, goes with the PUT, so a
        webhook can be followed from the sender to Close."""
        d = self.start_daemon()
        body = outcome("evt_rid_put")
        hdrs = dict(harness.generic_headers(GENERIC_SECRET, body), **{"X-Request-Id": "rid-to-close-1"})
        self.assertQueued(post(d.port, "/hooks/notetaker", body, hdrs))
        other = outcome("evt_rid_put_generated")
        answer = post(d.port, "/hooks/notetaker", other, harness.generic_headers(GENERIC_SECRET, other))
        self.assertQueued(answer)
        generated = answer[1].get("x-request-id")
        puts = self.wait_successful_puts(2)
        self.assertEqual(sorted(p.headers.get("x-request-id") for p in puts), sorted(["rid-to-close-1", generated]))

    def test_query_is_not_logged(self):
        d = self.start_daemon()
        status, headers, _ = request(d.port, "GET", "/healthz?token=sender-query-secret-55")
        self.assertEqual(status, 200)
        self.assertAccessLogged(d, headers["x-request-id"], "GET", "/healthz", 200)
        self.assertNotIn("sender-query-secret-55", d.log_text())

    def test_access_log_can_be_switched_off(self):
        d = self.start_daemon(extra={"log": {"access": False}})
        body = outcome("evt_quiet")
        status, headers, _ = post(d.port, "/hooks/notetaker", body,
                                  dict(harness.generic_headers(GENERIC_SECRET, body), **{"X-Request-Id": "rid-q"}))
        self.assertEqual((status, headers.get("x-request-id")), (202, "rid-q"))
        self.wait_successful_puts(1)
        lines = self.log_lines(d)
        self.assertEqual([o for o in lines if is_access(o)], [])
        self.assertIn("rid-q", [o.get("request_id") for o in lines if o["msg"] == "queued"])


if __name__ == "__main__":
    harness.run()
