"""Client addresses (issue 7): X-Forwarded-For / Forwarded are believed only
from trusted proxies; a route's allow_ips is checked against the client."""

import copy
import json

import harness
from harness import E2ETestCase, ROUTES


def routes_with_allow(cidrs):
    routes = copy.deepcopy(ROUTES)
    for r in routes:
        if r["name"] == "notetaker":
            r["allow_ips"] = cidrs
    return routes


class ClientAddress(E2ETestCase):
    def send_from(self, d, event_id, **headers):
        doc = json.loads(harness.sample("generic/outcome.json"))
        doc["id"] = event_id
        body = json.dumps(doc).encode()
        hdrs = harness.generic_headers(harness.GENERIC_SECRET, body)
        hdrs.update(headers)
        return harness.post(d.port, "/hooks/notetaker", body, hdrs)

    def access_clients(self, d):
        return [line.get("client") for line in d.logs() if line.get("msg") == "access"]

    def test_forwarded_for_from_an_untrusted_peer_is_ignored(self):
        d = self.start_daemon(routes=routes_with_allow(["203.0.113.0/24"]))
        status, _, body = self.send_from(d, "evt_spoof", **{"X-Forwarded-For": "203.0.113.5"})
        self.assertEqual(status, 403, body)
        self.assertEqual(json.loads(body)["error"], "forbidden")
        self.assertEqual(self.fake.puts(), [])
        self.assertIn("127.0.0.1", self.access_clients(d))

    def test_trusted_proxy_forwards_the_client(self):
        d = self.start_daemon(routes=routes_with_allow(["203.0.113.0/24"]),
                              extra={"trusted_proxies": ["127.0.0.1/32"]})
        self.assertQueued(self.send_from(d, "evt_via_lb", **{"X-Forwarded-For": "1.1.1.1, 203.0.113.5"}))
        self.wait_successful_puts(1)
        status, _, _ = self.send_from(d, "evt_outsider", **{"X-Forwarded-For": "198.51.100.1"})
        self.assertEqual(status, 403)
        status, _, _ = self.send_from(d, "evt_forwarded", Forwarded='for="203.0.113.77:4711";proto=https')
        self.assertEqual(status, 202)
        clients = self.access_clients(d)
        for want in ("203.0.113.5", "198.51.100.1", "203.0.113.77"):
            self.assertIn(want, clients)

    def test_allow_ips_without_forwarding_uses_the_peer(self):
        d = self.start_daemon(routes=routes_with_allow(["127.0.0.0/8"]))
        self.assertQueued(self.send_from(d, "evt_local"))
        self.wait_successful_puts(1)


if __name__ == "__main__":
    harness.run()
