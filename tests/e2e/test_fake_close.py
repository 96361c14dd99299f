"""Self-test of the e2e tooling: the fake Close must be as strict as close-api.md
says the real one is (else the daemon's tests prove little), and the harness
must start, probe and stop a daemon correctly. Needs no closehook binary: a
stand-in daemon written in Python plays its part."""

import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import sys
import tempfile
import textwrap
import threading
import unittest
import urllib.parse

import harness
from harness import FakeClose, MEETING_PATH, SAMPLE_ACTIVITY_ID

KEY = "api_selftestKey"
TOKEN = "oauth_selftestToken"
LIST = "/api/v1/activity/meeting/"


def basic(key, password=""):
    return "Basic " + base64.b64encode(f"{key}:{password}".encode()).decode()


class FakeCloseTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeClose(api_keys=[KEY], bearer_tokens=[TOKEN],
                              meetings=[harness.sample_meeting()]).start()
        self.addCleanup(self.fake.stop)

    def call(self, method, path, body=None, auth=basic(KEY), headers=None):
        hdrs = {"Authorization": auth} if auth else {}
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        status, rh, data = harness.request(self.fake.port, method, path, body=body, headers=hdrs)
        self.assertEqual(rh.get("content-length"), str(len(data)))
        self.assertEqual(rh.get("content-type"), "application/json")
        return status, rh, json.loads(data)

    def test_auth_forms(self):
        self.assertEqual(self.call("GET", MEETING_PATH)[0], 200)
        self.assertEqual(self.call("GET", MEETING_PATH, auth="Bearer " + TOKEN)[0], 200)
        for bad in (None, basic(KEY, "x"), basic("other"), "Bearer " + KEY, "Basic " + KEY,
                    basic(KEY).lower(), "Bearer " + TOKEN + " "):
            status, _, doc = self.call("GET", MEETING_PATH, auth=bad)
            self.assertEqual(status, 401, bad)
            self.assertIn("error", doc)

    def test_raw_get_answers_the_bytes_as_is_and_still_checks_auth(self):
        raw = b"[" * 1000 + b"]" * 1000
        self.fake.set_raw_get(SAMPLE_ACTIVITY_ID, raw)
        status, rh, data = harness.request(self.fake.port, "GET", MEETING_PATH, headers={"Authorization": basic(KEY)})
        self.assertEqual((status, data), (200, raw))
        self.assertEqual(rh.get("content-length"), str(len(raw)))
        self.assertEqual(self.call("GET", MEETING_PATH, auth=basic("other"))[0], 401)
        self.assertEqual(self.call("PUT", MEETING_PATH, b'{"outcome_id":"outcome_x"}')[0], 200, "PUT unaffected")

    def test_put_merges_and_answers_the_meeting(self):
        status, _, doc = self.call("PUT", MEETING_PATH, b'{"outcome_id":"outcome_x","user_note_html":"<p>n</p>"}')
        self.assertEqual(status, 200)
        self.assertEqual(doc["outcome_id"], "outcome_x")
        self.assertEqual(doc["title"], "Acme Corp — pricing follow-up")
        self.assertEqual(self.call("GET", MEETING_PATH)[2]["user_note_html"], "<p>n</p>")
        (put,) = self.fake.puts()
        self.assertEqual(put.status, 200)
        self.assertEqual(put.json(), {"outcome_id": "outcome_x", "user_note_html": "<p>n</p>"})
        self.assertEqual(put.headers["authorization"], basic(KEY))

    def test_put_refusals(self):
        no_slash = MEETING_PATH.rstrip("/")
        self.assertEqual(self.call("PUT", no_slash, b"{}")[0], 404)
        self.assertEqual(self.call("PUT", MEETING_PATH, b"[1]")[0], 400)
        self.assertEqual(self.call("PUT", MEETING_PATH, b"{nope")[0], 400)
        self.assertEqual(self.call("PUT", MEETING_PATH, b"{}", headers={"Content-Type": "text/plain"})[0], 400)
        status, _, doc = self.call("PUT", LIST + "acti_unknown/", b"{}")
        self.assertEqual((status, doc), (404, {"error": "Empty query: Activity matching query does not exist."}))
        self.assertEqual(self.call("GET", LIST + "acti_unknown/")[0], 404)
        self.assertEqual(self.call("POST", MEETING_PATH, b"{}")[0], 405)

    def test_outcomes_checked_when_configured(self):
        strict = FakeClose(api_keys=[KEY], meetings=[harness.sample_meeting()], outcomes=["outcome_ok"]).start()
        self.addCleanup(strict.stop)
        path = MEETING_PATH
        st, _, _ = harness.request(strict.port, "PUT", path, b'{"outcome_id":"outcome_bad"}',
                                   {"Authorization": basic(KEY), "Content-Type": "application/json"})
        self.assertEqual(st, 400)
        st, _, _ = harness.request(strict.port, "PUT", path, b'{"outcome_id":"outcome_ok"}',
                                   {"Authorization": basic(KEY), "Content-Type": "application/json"})
        self.assertEqual(st, 200)

    def test_list_filters_paging_and_fields(self):
        later = harness.sample_meeting()
        later["id"] = "acti_later"
        later["starts_at"] = "2026-12-02T09:00:00+00:00"
        self.fake.add_meeting(later)
        status, _, doc = self.call("GET", LIST)
        self.assertEqual((status, len(doc["data"]), doc["has_more"]), (200, 2, False))
        q = "?activity_at__gte=2026-11-25T07:00:03Z&activity_at__lte=2026-11-25T11:00:03%2B00:00"
        status, _, doc = self.call("GET", LIST + q + "&_fields=id,conference_links")
        self.assertEqual(status, 200)
        self.assertEqual(doc["data"], [{"id": SAMPLE_ACTIVITY_ID, "conference_links": [
            {"type": "ZOOM", "url": "https://example.zoom.us/j/85746392011?pwd=abc123"}]}])
        status, _, doc = self.call("GET", LIST + "?_limit=1&_skip=0")
        self.assertEqual((len(doc["data"]), doc["has_more"]), (1, True))
        status, _, doc = self.call("GET", LIST + "?_limit=1&_skip=1")
        self.assertEqual((len(doc["data"]), doc["has_more"], doc["data"][0]["id"]), (1, False, "acti_later"))
        self.assertEqual(self.call("GET", LIST + "?activity_at__gte=2026-12-01")[2]["data"][0]["id"], "acti_later")
        # unknown filters, bad times and an unencoded '+' (decoded as a space) are errors
        self.assertEqual(self.call("GET", LIST + "?starts_at__gte=2026-11-25T07:00:00Z")[0], 400)
        self.assertEqual(self.call("GET", LIST + "?activity_at__gte=yesterday")[0], 400)
        self.assertEqual(self.call("GET", LIST + "?activity_at__gte=2026-11-25T07:00:00+00:00")[0], 400)
        self.assertEqual(self.call("GET", LIST + "?_limit=x")[0], 400)
        self.assertEqual(self.call("GET", LIST + "?_limit=1&_limit=2")[0], 400)
        self.assertEqual(len(self.fake.lookups()), 10)
        self.assertEqual(self.fake.lookups()[1].query["activity_at__lte"], "2026-11-25T11:00:03+00:00")

    def test_scripted_faults(self):
        self.fake.fail_next_puts([503, 429])
        st1, _, _ = self.call("PUT", MEETING_PATH, b"{}")
        st2, h2, doc2 = self.call("PUT", MEETING_PATH, b"{}")
        st3, _, _ = self.call("PUT", MEETING_PATH, b"{}")
        self.assertEqual((st1, st2, st3), (503, 429, 200))
        self.assertEqual(h2.get("retry-after"), "1")
        self.assertEqual(doc2["error"]["rate_reset"], 1.0)
        self.assertIn("remaining=0", h2.get("ratelimit"))
        self.fake.set_put_status(404)
        self.assertEqual(self.call("PUT", MEETING_PATH, b"{}")[0], 404)
        self.assertEqual(self.call("GET", MEETING_PATH)[0], 200)
        self.fake.set_put_status(None)
        self.assertEqual(self.call("PUT", MEETING_PATH, b"{}")[0], 200)
        self.assertEqual([p.status for p in self.fake.puts()], [503, 429, 200, 404, 200])
        self.assertEqual(len(self.fake.successful_puts()), 2)

    def test_keep_alive_and_chunked_bodies(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.fake.port, timeout=5)
        self.addCleanup(conn.close)
        hdrs = {"Authorization": basic(KEY), "Content-Type": "application/json"}
        conn.request("PUT", MEETING_PATH, body=iter([b'{"title":', b'"chunked"}']), headers=hdrs,
                     encode_chunked=True)
        resp = conn.getresponse()
        self.assertEqual((resp.status, json.loads(resp.read())["title"]), (200, "chunked"))
        conn.request("GET", MEETING_PATH, headers=hdrs)  # same connection
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        resp.read()

    def test_held_puts(self):
        self.fake.hold_puts()
        out = []
        t = threading.Thread(target=lambda: out.append(self.call("PUT", MEETING_PATH, b"{}")[0]))
        t.start()
        self.assertTrue(self.fake.wait_for(lambda f: f.inflight() == 1, 5))
        self.assertEqual(out, [])
        self.fake.release_puts()
        t.join(5)
        self.assertEqual(out, [200])
        self.assertEqual(self.fake.inflight(), 0)

    def test_puts_held_for_one_key_only(self):
        other = "api_otherKey_0123456789"
        self.fake.accept_api_key(other)
        self.fake.hold_puts_for(KEY)
        out = []
        t = threading.Thread(target=lambda: out.append(self.call("PUT", MEETING_PATH, b"{}")[0]))
        t.start()
        self.assertTrue(self.fake.wait_for(lambda f: f.inflight() == 1, 5))
        # another key's PUT is answered while the first one hangs
        status = self.call("PUT", MEETING_PATH, b"{}", auth=basic(other))[0]
        self.assertEqual((status, out), (200, []))
        self.fake.release_puts_for(KEY)
        t.join(5)
        self.assertEqual(out, [200])
        self.assertEqual(self.fake.inflight(), 0)


# A stand-in for closehook: reads the config, serves /healthz, logs JSON lines.
STANDIN = textwrap.dedent('''
    import json, sys, signal
    from http.server import HTTPServer, BaseHTTPRequestHandler
    text = open(sys.argv[3]).read().split("\\n", 1)[1]   # drop the // comment line
    cfg = json.loads(text)
    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/healthz" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()
        def log_message(self, *a):
            pass
    try:
        srv = HTTPServer((cfg["listen"][0]["host"], cfg["listen"][0]["port"]), H)
    except OSError as e:
        print(json.dumps({"level": "error", "msg": "bind failed: " + str(e)}), file=sys.stderr)
        sys.exit(1)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print(json.dumps({"level": "info", "msg": "listening", "key_set": str("CLOSE_API_KEY" in __import__("os").environ)}),
          file=sys.stderr, flush=True)
    srv.serve_forever()
''')


class FakeSearchAndTokenTest(unittest.TestCase):
    """Meeting Search and the OAuth token endpoint, as close-api.md says."""

    CLIENT = ("client_selftest", "secret_selftest")

    def setUp(self):
        self.fake = FakeClose(api_keys=[KEY], meetings=[harness.sample_meeting()]).start()
        self.addCleanup(self.fake.stop)

    def get(self, query, auth=basic(KEY)):
        status, _, data = harness.request(self.fake.port, "GET", LIST + query, headers={"Authorization": auth})
        return status, json.loads(data)

    def token(self, refresh, client=CLIENT, grant="refresh_token", ctype="application/x-www-form-urlencoded"):
        form = urllib.parse.urlencode({"grant_type": grant, "refresh_token": refresh,
                                       "client_id": client[0], "client_secret": client[1]}).encode()
        status, _, data = harness.request(self.fake.port, "POST", "/oauth2/token/", body=form,
                                          headers={"Content-Type": ctype})
        return status, json.loads(data)

    def test_meeting_search_filters(self):
        later = harness.sample_meeting()
        later["id"] = "acti_next_occurrence"
        later["starts_at"] = "2026-12-02T09:00:00+00:00"
        self.fake.add_meeting(later)
        ids = lambda doc: [m["id"] for m in doc["data"]]  # noqa: E731
        st, doc = self.get("?provider_calendar_event_id=AAMkAGI2TAAA%3D")
        self.assertEqual((st, len(doc["data"])), (200, 2))
        st, doc = self.get("?provider_calendar_event_id=AAMkAGI2TAAA%3D&provider_calendar_type=microsoft"
                           "&starts_at__gte=2026-11-25T07:00:00Z&starts_at__lt=2026-11-25T11:00:00Z")
        self.assertEqual(ids(doc), [SAMPLE_ACTIVITY_ID])
        st, doc = self.get("?provider_calendar_event_id=AAMkAGI2TAAA%3D&starts_at=2026-12-02T09:00:00Z")
        self.assertEqual(ids(doc), ["acti_next_occurrence"])
        self.assertEqual(ids(self.get("?provider_calendar_event_id=AAMkAGI2TAAA%3D"
                                      "&provider_calendar_type=google")[1]), [])
        self.assertEqual(ids(self.get("?provider_calendar_event_id=other")[1]), [])
        # the companions need the event id; an unknown calendar type is refused
        for q in ("?provider_calendar_type=microsoft", "?starts_at=2026-11-25T09:00:00Z",
                  "?starts_at__gte=2026-11-25T07:00:00Z", "?starts_at__lt=2026-11-25T07:00:00Z",
                  "?provider_calendar_id=cal_1",
                  "?provider_calendar_event_id=x&provider_calendar_type=outlook"):
            self.assertEqual(self.get(q)[0], 400, q)
        self.assertEqual(self.fake.counts(), {"list": 5, "search": 6, "get": 0, "put": 0, "token": 0})

    def test_refresh_tokens_rotate(self):
        self.fake.configure_oauth(*self.CLIENT, "refresh_0", expires_in=3600)
        st, doc = self.token("refresh_0")
        self.assertEqual(st, 200, doc)
        self.assertEqual(set(doc), {"access_token", "refresh_token", "expires_in", "token_type"})
        self.assertEqual((doc["expires_in"], doc["token_type"]), (3600, "Bearer"))
        self.assertEqual(self.get("", auth="Bearer " + doc["access_token"])[0], 200)
        # the used refresh token is spent; the new one works once
        self.assertEqual(self.token("refresh_0"), (400, {"error": "invalid_grant"}))
        st, second = self.token(doc["refresh_token"])
        self.assertEqual(st, 200)
        self.assertEqual(self.fake.refresh_tokens(), {second["refresh_token"]})
        self.assertEqual(self.token(second["refresh_token"], client=("client_selftest", "wrong"))[0], 401)
        self.assertEqual(self.token(second["refresh_token"], grant="password")[0], 400)
        self.assertEqual(self.token(second["refresh_token"], ctype="application/json")[0], 400)
        self.assertEqual(self.fake.counts()["token"], 6)

    def test_access_tokens_expire(self):
        self.fake.configure_oauth(*self.CLIENT, "refresh_0")
        self.fake.set_access_ttl(0)
        _, doc = self.token("refresh_0")
        self.assertEqual(doc["expires_in"], 3600)  # what it says, not what it does
        self.assertEqual(self.get("", auth="Bearer " + doc["access_token"])[0], 401)
        self.fake.set_access_ttl(None)
        _, doc = self.token(doc["refresh_token"])
        self.assertEqual(self.get("", auth="Bearer " + doc["access_token"])[0], 200)
        self.fake.expire_access_tokens()
        self.assertEqual(self.get("", auth="Bearer " + doc["access_token"])[0], 401)
        self.fake.add_access_token("seeded")
        self.assertEqual(self.get("", auth="Bearer seeded")[0], 200)


class HarnessTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="closehook-e2e-self-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.standin = os.path.join(self.tmp, "standin")
        with open(self.standin, "w") as f:
            f.write(f"#!{sys.executable}\n" + STANDIN)
        os.chmod(self.standin, 0o755)

    def test_signatures(self):
        body = b'{"a":1}'
        h = harness.zoom_headers("s3cret", body, ts=1764068412)
        self.assertEqual(h["x-zm-request-timestamp"], "1764068412")
        self.assertEqual(h["x-zm-signature"],
                         "v0=" + hmac.new(b"s3cret", b'v0:1764068412:{"a":1}', hashlib.sha256).hexdigest())
        g = harness.generic_headers("k", body)
        self.assertEqual(g["X-Signature-256"], "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest())
        self.assertEqual(harness.basic_auth("key"), "Basic a2V5Og==")

    def test_config_is_the_documented_shape(self):
        path = harness.write_config(self.tmp, 1234, "http://127.0.0.1:9", body_limit=1024)
        with open(path) as f:
            text = f.read()
        self.assertTrue(text.startswith("//"))
        cfg = json.loads(text.split("\n", 1)[1])
        self.assertEqual(cfg["listen"], [{"host": "127.0.0.1", "port": 1234}])
        self.assertEqual(cfg["body_limit"], 1024)
        self.assertEqual(cfg["store"]["path"], os.path.join(self.tmp, "q.db"))
        self.assertEqual([r["name"] for r in cfg["routes"]], ["zoom", "notetaker"])
        self.assertNotIn(harness.ZOOM_SECRET, text)
        self.assertNotIn(harness.CLOSE_API_KEY, text)

    def test_daemon_start_stop_and_bind_retry(self):
        import socket
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        self.addCleanup(blocker.close)
        taken = blocker.getsockname()[1]
        d = harness.Daemon(self.standin, lambda port: harness.write_config(self.tmp, port, "http://x"),
                           harness.daemon_env(api_key=False), os.path.join(self.tmp, "d.log"))
        d.start(port=taken)   # first try fails to bind, the harness moves on
        self.addCleanup(d.kill9)
        self.assertNotEqual(d.port, taken)
        self.assertEqual(harness.request(d.port, "GET", "/healthz")[0], 200)
        msgs = [line.get("msg") for line in d.logs()]
        self.assertIn("listening", msgs)
        self.assertTrue(any("bind failed" in (m or "") for m in msgs))
        self.assertEqual([line["key_set"] for line in d.logs() if "key_set" in line], ["False"])
        self.assertEqual(d.stop(), 0)
        self.assertFalse(d.running())
        d.start()
        self.assertTrue(d.running())
        d.kill9()
        self.assertEqual(d.proc.returncode, -9)

    def test_daemon_that_never_comes_up_fails_with_its_log(self):
        bad = os.path.join(self.tmp, "bad")
        with open(bad, "w") as f:
            f.write(f"#!{sys.executable}\nimport sys\nprint('config: routes: missing', file=sys.stderr)\nsys.exit(2)\n")
        os.chmod(bad, 0o755)
        d = harness.Daemon(bad, lambda port: harness.write_config(self.tmp, port, "http://x"),
                           harness.daemon_env(), os.path.join(self.tmp, "bad.log"))
        with self.assertRaises(harness.DaemonError) as ctx:
            d.start()
        self.assertIn("config: routes: missing", str(ctx.exception))


if __name__ == "__main__":
    harness.run()
