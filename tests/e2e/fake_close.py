"""A fake Close API on 127.0.0.1 for the end-to-end tests.

It behaves as Close's public API documentation describes the real Close, and is
deliberately no more lenient: wrong auth is 401, a PUT without the trailing
slash is 404, unknown list filters are 400. That way a daemon that passes
against the fake has a fair chance against the real thing. Every request is
recorded (with the status we answered) so tests can assert on exactly what the
daemon sent. Scripted faults (5xx, 429, 404, a held PUT) drive the retry and
durability tests. Meeting Search (provider_calendar_event_id and its companion
filters) and the OAuth token endpoint (rotating refresh tokens) behave as
close-api.md says; counts() tells how many list, search, get, PUT and token
calls came in.

Rate limits (close-api.md): set_rate_limit(api_key, n) enforces n requests
per fixed one-second window for that key, per endpoint group (reads and
writes counted apart, as Close's docs give for example); past it the answer is
429 with Retry-After, {"error": {"rate_reset": …}} and the RateLimit header.
Every answer carries a RateLimit header (a roomy one for unlimited keys).
go_down()/come_up() close the listener and every open connection (so the
daemon sees refused connections, not errors) and reopen it on the same port.

Standalone: python3 fake_close.py --port 8099 --api-key KEY [--meeting FILE]
"""

import argparse
import base64
import copy
import datetime
import json
import math
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MEETING_PREFIX = "/api/v1/activity/meeting/"

# Close's list endpoints page 100 items unless told otherwise (close-api.md).
DEFAULT_LIMIT = 100

# Query parameters of GET /activity/meeting/ we implement. Anything else is a
# 400: it would mean the daemon relies on a filter we have not checked exists.
LIST_PARAMS = {
    "_limit", "_skip", "_fields", "id__in", "lead_id", "user_id",
    "activity_at__gte", "activity_at__lte", "activity_at__gt", "activity_at__lt",
}
# Meeting Search: provider_calendar_event_id, and filters Close accepts only
# together with it (close-api.md: an error otherwise).
SEARCH_KEY = "provider_calendar_event_id"
SEARCH_COMPANIONS = {"provider_calendar_id", "provider_calendar_type",
                     "starts_at", "starts_at__gte", "starts_at__lt"}
CALENDAR_TYPES = {"google", "microsoft"}

TOKEN_PATH = "/oauth2/token/"
# Close's access tokens live an hour (close-api.md).
DEFAULT_EXPIRES_IN = 3600

NOT_FOUND_BODY = {"error": "Empty query: Activity matching query does not exist."}
RATE_LIMITED_MESSAGE = "API call count exceeded for this period"
# What unlimited keys are told: far more than any test sends.
UNLIMITED_HEADER = "limit=1000, remaining=999, reset=1.0"


class Recorded:
    """One request as the fake saw it, plus what it answered."""

    def __init__(self, method, path, raw_query, headers, body):
        self.method = method
        self.path = path
        self.raw_query = raw_query
        self.query_multi = urllib.parse.parse_qs(raw_query, keep_blank_values=True)
        self.query = {k: v[-1] for k, v in self.query_multi.items()}
        self.headers = headers  # lower-case name -> value (last one wins)
        self.body = body
        self.time = time.monotonic()
        self.status = None
        self.response = None

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        body = self.body[:300].decode("utf-8", "replace")
        q = ("?" + self.raw_query) if self.raw_query else ""
        return f"<{self.method} {self.path}{q} -> {self.status} body={body!r}>"


def parse_time(text):
    """ISO 8601 as Close accepts it; naive times are taken as UTC."""
    value = datetime.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # a daemon killed mid-connection resets it: expected in the durability tests
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeClose:
    def __init__(self, api_keys=(), bearer_tokens=(), meetings=(), outcomes=None,
                 host="127.0.0.1", port=0):
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._accepted = set()
        for key in api_keys:
            self._accepted.add("Basic " + base64.b64encode((key + ":").encode()).decode())
        for tok in bearer_tokens:
            self._accepted.add("Bearer " + tok)
        self._meetings = {}
        for m in meetings:
            self.add_meeting(m)
        # None: any outcome id is accepted; else only these (others are a 400).
        self._outcomes = set(outcomes) if outcomes is not None else None
        self._requests = []
        self._put_script = []
        self._put_always = None
        self._put_answer = None
        self._put_hold = None
        self._key_holds = {}  # Authorization value -> Event its PUTs wait on
        self._put_delay = 0.0
        self._puts_running = {}  # activity id -> PUTs being handled right now
        self._max_concurrent_puts = 0  # most PUTs to one activity at the same time
        self._inflight = 0
        self._raw_gets = {}  # activity id -> bytes answered to a GET of it, as is
        # OAuth: one client; refresh tokens valid now; access token -> expiry
        # (time.monotonic(), None = never)
        self._oauth_client = None
        self._refresh_tokens = set()
        self._access_tokens = {}
        self._expires_in = DEFAULT_EXPIRES_IN
        self._access_ttl = None
        self._issued = 0
        # rate limits: Authorization value -> (requests per window, window s);
        # (Authorization, group) -> [window index, requests counted in it]
        self._rate_limits = {}
        self._rate_windows = {}
        self._epoch = time.monotonic()
        self._conns = set()  # open client sockets, closed by go_down()
        self._host = host
        self._port = port
        self._server = None
        self._thread = None
        self._listen()

    def _listen(self):
        self._server = _QuietServer((self._host, self._port), self._handler_class())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._port = self._server.server_address[1]

    # ---- lifecycle -------------------------------------------------------

    @property
    def port(self):
        return self._port

    @property
    def url(self):
        return f"http://{self._host}:{self.port}"

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.release_puts()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def go_down(self):
        """Closes the listener and every open connection: from now on the
        daemon's connects are refused. State (meetings, records) is kept."""
        self.stop()
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def come_up(self):
        """Listens again on the same port after go_down()."""
        self._listen()
        return self.start()

    # ---- state -----------------------------------------------------------

    def accept_api_key(self, key):
        with self._lock:
            self._accepted.add(self._basic(key))

    def accept_bearer_token(self, token):
        with self._lock:
            self._accepted.add("Bearer " + token)

    def set_raw_get(self, activity_id, raw):
        """GET of this one meeting answers 200 with these bytes, not JSON we
        build: for a hostile or broken upstream (e.g. 3M nested brackets)."""
        with self._lock:
            self._raw_gets[activity_id] = raw

    def add_meeting(self, meeting):
        with self._lock:
            self._meetings[meeting["id"]] = copy.deepcopy(meeting)

    def remove_meeting(self, activity_id):
        with self._lock:
            self._meetings.pop(activity_id, None)

    def meeting(self, activity_id):
        with self._lock:
            m = self._meetings.get(activity_id)
            return copy.deepcopy(m)

    def fail_next_puts(self, statuses):
        """Answer the next len(statuses) PUTs with these statuses, in order."""
        with self._lock:
            self._put_script.extend(statuses)

    def set_put_status(self, status):
        """Answer every PUT with status (e.g. 404, 503); None = behave normally."""
        with self._lock:
            self._put_always = status

    def set_put_answer(self, answer):
        """Answer every PUT with answer(rec) -> (status, body, extra headers)
        instead of applying it: an error that echoes the request, a huge 200.
        answer returning None (or answer None) = behave normally."""
        with self._lock:
            self._put_answer = answer

    def hold_puts(self):
        """PUTs block (after being recorded) until release_puts()."""
        with self._lock:
            self._put_hold = threading.Event()

    def release_puts(self):
        """Releases every held PUT, those held per key included."""
        with self._lock:
            holds = [self._put_hold] + list(self._key_holds.values())
            self._put_hold, self._key_holds = None, {}
        for hold in holds:
            if hold is not None:
                hold.set()

    def hold_puts_for(self, api_key):
        """PUTs sent with this API key block (after being recorded) until
        release_puts_for(api_key): one credential's Close hanging."""
        with self._lock:
            self._key_holds[self._basic(api_key)] = threading.Event()

    def release_puts_for(self, api_key):
        with self._lock:
            hold = self._key_holds.pop(self._basic(api_key), None)
        if hold is not None:
            hold.set()

    def set_rate_limit(self, api_key, per_window, window_s=1.0):
        """Enforces per_window requests per fixed window of window_s seconds for
        this API key, per endpoint group (GET apart from PUT/POST)."""
        with self._lock:
            self._rate_limits[self._basic(api_key)] = (per_window, window_s)

    def rate_limited(self):
        """The requests answered 429 by the enforced limit or a script."""
        return [r for r in self.requests() if r.status == 429]

    def set_put_delay(self, seconds):
        """Every PUT takes this long before it is applied and answered."""
        with self._lock:
            self._put_delay = seconds

    # ---- OAuth -----------------------------------------------------------

    def configure_oauth(self, client_id, client_secret, refresh_token, expires_in=DEFAULT_EXPIRES_IN):
        """Enables POST /oauth2/token/ for this client, with one valid refresh token.
        expires_in is what the answers say (and, unless set_access_ttl says
        otherwise, how long issued access tokens are accepted)."""
        with self._lock:
            self._oauth_client = (client_id, client_secret)
            self._refresh_tokens = {refresh_token}
            self._expires_in = expires_in

    def set_access_ttl(self, seconds):
        """How long access tokens issued from now on are really accepted (None:
        expires_in), so a test can make a token expire before it says it would."""
        with self._lock:
            self._access_ttl = seconds

    def add_access_token(self, token, ttl=None):
        """Accepts "Bearer <token>" for ttl seconds (None: until expired by hand)."""
        with self._lock:
            self._access_tokens[token] = None if ttl is None else time.monotonic() + ttl

    def expire_access_tokens(self):
        """Every access token issued or added so far is refused from now on."""
        with self._lock:
            self._access_tokens = {t: time.monotonic() - 1 for t in self._access_tokens}

    def refresh_tokens(self):
        """The refresh tokens that would be accepted now."""
        with self._lock:
            return set(self._refresh_tokens)

    def access_tokens(self):
        """The access tokens issued or added, valid or not, in issue order."""
        with self._lock:
            return list(self._access_tokens)

    def token_calls(self):
        return self.requests("POST", TOKEN_PATH)

    def counts(self):
        """Calls by kind: list (meeting list without search), search (Meeting
        Search), get (one meeting), put, token."""
        out = {"list": 0, "search": 0, "get": 0, "put": 0, "token": 0}
        for r in self.requests():
            if r.method == "POST" and r.path == TOKEN_PATH:
                out["token"] += 1
            elif r.method == "PUT" and r.path.startswith(MEETING_PREFIX):
                out["put"] += 1
            elif r.method == "GET" and r.path == MEETING_PREFIX:
                out["search" if SEARCH_KEY in r.query_multi else "list"] += 1
            elif r.method == "GET" and r.path.startswith(MEETING_PREFIX):
                out["get"] += 1
        return out

    def searches(self):
        return [r for r in self.lookups() if SEARCH_KEY in r.query_multi]

    def gets(self):
        return [r for r in self.requests("GET") if r.path.startswith(MEETING_PREFIX) and r.path != MEETING_PREFIX]

    def inflight(self):
        with self._lock:
            return self._inflight

    # ---- inspection ------------------------------------------------------

    def requests(self, method=None, path=None):
        with self._lock:
            out = list(self._requests)
        if method is not None:
            out = [r for r in out if r.method == method]
        if path is not None:
            out = [r for r in out if r.path == path]
        return out

    def puts(self):
        return self.requests("PUT")

    def successful_puts(self):
        return [r for r in self.puts() if r.status is not None and 200 <= r.status < 300]

    def lookups(self):
        return self.requests("GET", MEETING_PREFIX)

    def wait_for(self, predicate, timeout=15.0):
        """Waits until predicate(fake) is true; returns its last value."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(self)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    return value
                self._cond.wait(min(left, 0.1))

    # ---- request handling ------------------------------------------------

    def _record(self, rec):
        with self._cond:
            self._requests.append(rec)
            self._inflight += 1
            self._cond.notify_all()

    def _finish(self, rec, status, body):
        with self._cond:
            rec.status = status
            rec.response = body
            self._inflight -= 1
            self._cond.notify_all()

    @staticmethod
    def _basic(api_key):
        return "Basic " + base64.b64encode((api_key + ":").encode()).decode()

    def _rate_take(self, rec):
        """Counts rec against its key's window. None when the key is not
        limited; else (allowed, headers for the answer, seconds to the reset)."""
        auth = rec.headers.get("authorization")
        group = "read" if rec.method == "GET" else "write"
        with self._lock:
            if auth not in self._rate_limits:
                return None
            limit, window = self._rate_limits[auth]
            since = time.monotonic() - self._epoch
            index = math.floor(since / window)
            reset = round((index + 1) * window - since, 3)
            state = self._rate_windows.setdefault((auth, group), [index, 0])
            if state[0] != index:
                state[0], state[1] = index, 0
            allowed = state[1] < limit
            if allowed:
                state[1] += 1
            remaining = limit - state[1]
        return allowed, {"RateLimit": f"limit={limit}, remaining={remaining}, reset={reset}"}, reset

    def _authorized(self, header):
        with self._lock:
            if header in self._accepted:
                return True
            if not header or not header.startswith("Bearer "):
                return False
            token = header[len("Bearer "):]
            if token not in self._access_tokens:
                return False
            expiry = self._access_tokens[token]
            return expiry is None or time.monotonic() < expiry

    def _token(self, rec):
        """POST /oauth2/token/: the refresh grant, rotating the refresh token."""
        ctype = rec.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return 400, {"error": "invalid_request",
                         "error_description": "form body required"}, {}
        try:
            form = urllib.parse.parse_qs(rec.body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return 400, {"error": "invalid_request"}, {}
        if any(len(v) > 1 for v in form.values()):
            return 400, {"error": "invalid_request", "error_description": "repeated parameter"}, {}
        form = {k: v[0] for k, v in form.items()}
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type"}, {}
        with self._lock:
            if self._oauth_client is None or (form.get("client_id"), form.get("client_secret")) != self._oauth_client:
                return 401, {"error": "invalid_client"}, {}
            old = form.get("refresh_token")
            if old not in self._refresh_tokens:
                return 400, {"error": "invalid_grant"}, {}
            self._refresh_tokens.discard(old)
            self._issued += 1
            access = f"fake_access_{self._issued}_{uuid.uuid4().hex}"
            refresh = f"fake_refresh_{self._issued}_{uuid.uuid4().hex}"
            self._refresh_tokens.add(refresh)
            ttl = self._access_ttl if self._access_ttl is not None else self._expires_in
            self._access_tokens[access] = time.monotonic() + ttl
            return 200, {"access_token": access, "refresh_token": refresh,
                         "expires_in": self._expires_in, "token_type": "Bearer"}, {}

    def _handle(self, rec):
        """Returns (status, json body, extra headers)."""
        if rec.path == TOKEN_PATH:
            if rec.method != "POST":
                return 405, {"error": "Method not allowed."}, {}
            return self._token(rec)
        if not self._authorized(rec.headers.get("authorization")):
            return 401, {"error": "The API key or token is invalid or expired."}, {}
        rate = self._rate_take(rec)
        if rate is not None and not rate[0]:
            _, headers, reset = rate
            body = {"error": {"rate_reset": reset, "message": RATE_LIMITED_MESSAGE}}
            return 429, body, dict(headers, **{"Retry-After": str(max(1, math.ceil(reset)))})
        status, body, extra = self._meeting_endpoint(rec)
        if rate is not None and "RateLimit" not in extra:
            extra = dict(extra, **rate[1])
        return status, body, extra

    def _meeting_endpoint(self, rec):
        if not rec.path.startswith(MEETING_PREFIX):
            return 404, {"error": "Not found."}, {}
        rest = rec.path[len(MEETING_PREFIX):]
        if rest == "":
            if rec.method != "GET":
                return 405, {"error": "Method not allowed."}, {}
            return self._list(rec)
        if "/" not in rest or not rest.endswith("/") or rest.count("/") != 1:
            return 404, {"error": "Not found."}, {}
        activity_id = rest[:-1]
        if rec.method == "GET":
            if rec.raw_query:
                return 400, {"error": "unexpected query on a single meeting"}, {}
            with self._lock:
                raw = self._raw_gets.get(activity_id)
            if raw is not None:
                return 200, raw, {}
            m = self.meeting(activity_id)
            return (200, m, {}) if m is not None else (404, NOT_FOUND_BODY, {})
        if rec.method == "PUT":
            return self._put(rec, activity_id)
        return 405, {"error": "Method not allowed."}, {}

    def max_concurrent_puts(self):
        """The most PUTs to any one activity that were being handled at once:
        1 when updates to a meeting never overlapped."""
        with self._lock:
            return self._max_concurrent_puts

    def _put(self, rec, activity_id):
        with self._lock:
            running = self._puts_running.get(activity_id, 0) + 1
            self._puts_running[activity_id] = running
            self._max_concurrent_puts = max(self._max_concurrent_puts, running)
        try:
            return self._put_applied(rec, activity_id)
        finally:
            with self._lock:
                self._puts_running[activity_id] -= 1

    def _put_applied(self, rec, activity_id):
        with self._lock:
            hold, delay = self._put_hold, self._put_delay
            key_hold = self._key_holds.get(rec.headers.get("authorization"))
        for h in (hold, key_hold):
            if h is not None:
                h.wait()
        if delay:
            time.sleep(delay)
        with self._lock:
            scripted = self._put_script.pop(0) if self._put_script else self._put_always
            answer = self._put_answer
        answered = answer(rec) if answer is not None else None
        if answered is not None:
            return answered
        if scripted is not None and scripted >= 300:
            return self._fault(scripted)
        ctype = rec.headers.get("content-type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            return 400, {"error": "Content-Type must be application/json"}, {}
        try:
            fields = json.loads(rec.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return 400, {"error": "Invalid JSON body."}, {}
        if not isinstance(fields, dict):
            return 400, {"error": "Request body must be a JSON object."}, {}
        if (self._outcomes is not None and "outcome_id" in fields
                and fields["outcome_id"] is not None and fields["outcome_id"] not in self._outcomes):
            return 400, {"errors": [], "field-errors": {"outcome_id": "Object does not exist."}}, {}
        with self._lock:
            m = self._meetings.get(activity_id)
            if m is None:
                return 404, NOT_FOUND_BODY, {}
            m.update(fields)
            return 200, copy.deepcopy(m), {}

    @staticmethod
    def _fault(status):
        if status == 429:
            body = {"error": {"rate_reset": 1.0, "message": RATE_LIMITED_MESSAGE}}
            return 429, body, {"Retry-After": "1",
                               "RateLimit": "limit=100, remaining=0, reset=1.0"}
        if status == 404:
            return 404, NOT_FOUND_BODY, {}
        return status, {"error": f"scripted fault {status}"}, {}

    def _list(self, rec):
        given = set(rec.query_multi)
        unknown = sorted(given - LIST_PARAMS - SEARCH_COMPANIONS - {SEARCH_KEY})
        if unknown:
            return 400, {"error": f"unknown query parameter(s): {', '.join(unknown)}"}, {}
        if any(len(v) > 1 for v in rec.query_multi.values()):
            return 400, {"error": "repeated query parameter"}, {}
        if given & SEARCH_COMPANIONS and SEARCH_KEY not in given:
            return 400, {"error": f"{', '.join(sorted(given & SEARCH_COMPANIONS))} requires {SEARCH_KEY}"}, {}
        q = rec.query
        if "provider_calendar_type" in q and q["provider_calendar_type"] not in CALENDAR_TYPES:
            return 400, {"error": "provider_calendar_type must be google or microsoft"}, {}
        try:
            limit = int(q.get("_limit", DEFAULT_LIMIT))
            skip = int(q.get("_skip", 0))
            bounds = {k: parse_time(q[k]) for k in q if k.startswith("activity_at__") or k.startswith("starts_at")}
        except ValueError as e:
            return 400, {"error": f"invalid query value: {e}"}, {}
        if limit < 0 or skip < 0:
            return 400, {"error": "_limit and _skip must be non-negative"}, {}
        with self._lock:
            meetings = [copy.deepcopy(m) for m in self._meetings.values()]
        meetings = [m for m in meetings if self._list_match(m, q, bounds)]
        page = meetings[skip:skip + limit]
        if "_fields" in q:
            keep = [f.strip() for f in q["_fields"].split(",") if f.strip()]
            page = [{k: m[k] for k in keep if k in m} for m in page]
        return 200, {"data": page, "has_more": skip + limit < len(meetings)}, {}

    @staticmethod
    def _list_match(m, q, bounds):
        for key in ("id__in", "lead_id", "user_id"):
            if key in q:
                field = "id" if key == "id__in" else key
                if m.get(field) not in q[key].split(","):
                    return False
        for key in (SEARCH_KEY, "provider_calendar_id", "provider_calendar_type"):
            if key in q and m.get(key) != q[key]:
                return False
        if bounds:
            starts = m.get("starts_at")
            if not starts:
                return False
            at = parse_time(starts)
            checks = {"activity_at__gte": lambda b: at >= b, "activity_at__lte": lambda b: at <= b,
                      "activity_at__gt": lambda b: at > b, "activity_at__lt": lambda b: at < b,
                      "starts_at": lambda b: at == b, "starts_at__gte": lambda b: at >= b,
                      "starts_at__lt": lambda b: at < b}
            for key, bound in bounds.items():
                if not checks[key](bound):
                    return False
        return True

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The head and body go out in two writes; with Nagle on, each
            # answer waits for the client's delayed ACK (~40 ms).
            disable_nagle_algorithm = True

            def log_message(self, fmt, *args):
                pass

            def setup(self):
                super().setup()
                with fake._lock:
                    fake._conns.add(self.connection)

            def finish(self):
                with fake._lock:
                    fake._conns.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass

            def _read_body(self):
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _serve(self):
                split = urllib.parse.urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                rec = Recorded(self.command, split.path, split.query, headers, self._read_body())
                fake._record(rec)
                status, body, extra = 500, {"error": "fake crashed"}, {}
                try:
                    status, body, extra = fake._handle(rec)
                finally:
                    data = body if isinstance(body, bytes) else json.dumps(body).encode()
                    fake._finish(rec, status, body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    if "RateLimit" not in extra:
                        self.send_header("RateLimit", UNLIMITED_HEADER)
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    self.close_connection = True

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve

        return Handler


def load_sample_meeting(samples_dir):
    with open(f"{samples_dir}/close/meeting.json", encoding="utf-8") as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser(description="fake Close API for manual testing")
    ap.add_argument("--port", type=int, default=8099)
    ap.add_argument("--api-key", action="append", default=[])
    ap.add_argument("--bearer", action="append", default=[])
    ap.add_argument("--meeting", action="append", default=[], help="JSON file with one meeting")
    args = ap.parse_args()
    meetings = []
    for path in args.meeting:
        with open(path, encoding="utf-8") as f:
            meetings.append(json.load(f))
    fake = FakeClose(api_keys=args.api_key, bearer_tokens=args.bearer, meetings=meetings,
                     port=args.port).start()
    print(f"fake Close on {fake.url}; Ctrl-C to stop", file=sys.stderr)
    seen = 0
    try:
        while True:
            time.sleep(0.2)
            reqs = fake.requests()
            while seen < len(reqs) and reqs[seen].status is not None:
                print(reqs[seen], file=sys.stderr)
                seen += 1
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
