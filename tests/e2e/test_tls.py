"""TLS listeners (issue 7): a listener with "tls" answers over HTTPS with the
configured certificate (generated here at test time), refuses old protocol
versions, and serves a replaced certificate after SIGHUP. A client asking for
HTTP/2 is answered over HTTP/1.1 (ALPN offers only http/1.1: h2o 2.2 can only
reset an over-limit h2 stream, never answer it), so a body over body_limit
gets the same 413 JSON on every connection (issue 10, item 12)."""

import hashlib
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess

import harness
from harness import E2ETestCase


def make_cert(directory, name):
    cert, key = os.path.join(directory, f"{name}.pem"), os.path.join(directory, f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


class Tls(E2ETestCase):
    def setUp(self):
        super().setUp()
        self.cert, self.key = make_cert(self.tmp, "first")
        self.tls_port = harness.free_port()

    def start_tls_daemon(self, body_limit=1048576):
        tls = {"cert": self.cert, "key": self.key}

        def listen(port):  # the plain listener is what the harness health-checks
            return [{"host": "127.0.0.1", "port": port},
                    {"host": "127.0.0.1", "port": self.tls_port, "tls": tls}]
        d = harness.Daemon(harness.BINARY,
                           lambda port: harness.write_config(self.tmp, port, self.fake.url, body_limit=body_limit,
                                                             extra={"listen": listen(port)}),
                           harness.daemon_env(), os.path.join(self.tmp, "daemon-tls.log"))
        self.daemons.append(d)
        return d.start()

    def https(self, method, path, cafile, body=None, headers=None):
        ctx = ssl.create_default_context(cafile=cafile)
        conn = http.client.HTTPSConnection("127.0.0.1", self.tls_port, context=ctx, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            fingerprint = hashlib.sha256(conn.sock.getpeercert(binary_form=True)).hexdigest()
            return resp.status, resp.read(), fingerprint, conn.sock.version()
        finally:
            conn.close()

    def fingerprint(self, cert):
        with open(cert, encoding="ascii") as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        return hashlib.sha256(der).hexdigest()

    def test_https_listener_serves_health_and_webhooks(self):
        d = self.start_tls_daemon()
        status, body, fp, version = self.https("GET", "/healthz", self.cert)
        self.assertEqual(status, 200, body)
        self.assertEqual(fp, self.fingerprint(self.cert))
        self.assertIn(version, ("TLSv1.2", "TLSv1.3"))
        doc = harness.sample("generic/outcome.json")
        headers = harness.generic_headers(harness.GENERIC_SECRET, doc)
        headers["Content-Type"] = "application/json"
        status, body, _, _ = self.https("POST", "/hooks/notetaker", self.cert, doc, headers)
        self.assertEqual(status, 202, body)
        self.assertEqual(json.loads(body)["status"], "queued")
        self.wait_successful_puts(1)
        self.assertEqual(d.stop(), 0)

    def test_tls_1_1_is_refused(self):
        self.start_tls_daemon()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):
            self.skipTest("this Python/OpenSSL cannot offer TLS 1.1 at all")
        with socket.create_connection(("127.0.0.1", self.tls_port), timeout=5) as raw:
            with self.assertRaises((ssl.SSLError, ConnectionResetError)):
                with ctx.wrap_socket(raw) as s:
                    s.do_handshake()

    def curl(self, url, body_file, *args):
        """POSTs the file with curl (which speaks HTTP/2; Python here does not);
        returns (curl exit code, HTTP version, status, body, curl's stderr)."""
        out = os.path.join(self.tmp, "curl-answer")
        proc = subprocess.run(
            ["curl", "-sS", "--cacert", self.cert, "-o", out, "-w", "%{http_version} %{http_code}",
             "--max-time", "20", "-H", "Content-Type: application/json", "--data-binary", "@" + body_file,
             *args, url], capture_output=True, text=True, timeout=30)
        version, _, code = proc.stdout.partition(" ")
        body = b""
        if os.path.exists(out):  # no file when the stream was reset before any answer
            with open(out, "rb") as f:
                body = f.read()
            os.unlink(out)
        return proc.returncode, version, int(code or 0), body, proc.stderr

    def test_a_client_asking_for_http2_gets_the_413_json_over_http1(self):
        limit = 64 * 1024
        d = self.start_tls_daemon(body_limit=limit)
        big = os.path.join(self.tmp, "big.json")
        with open(big, "wb") as f:
            f.write(b'{"padding": "' + b"x" * (16 * limit) + b'"}')
        tls_url = f"https://127.0.0.1:{self.tls_port}/hooks/zoom"
        plain_url = f"http://127.0.0.1:{d.port}/hooks/zoom"
        # A chunked body is refused once it passes the limit, and h2o closes the
        # connection after its answer: a client still writing then gets EPIPE and
        # may never read the 413. So the chunked body is only a little over the
        # limit, all of it written before the answer.
        near = os.path.join(self.tmp, "near.json")
        with open(near, "wb") as f:
            f.write(b'{"padding": "' + b"x" * (limit + 4096) + b'"}')
        # curl sends content-length from the file, or the body chunked when asked.
        cases = (("h2 over TLS, content-length", tls_url, big, ("--http2",)),
                 ("h2 over TLS, chunked", tls_url, near,
                  ("--http2", "-H", "Transfer-Encoding: chunked", "-H", "Expect:")),
                 ("h2c upgrade on the plain listener", plain_url, big, ("--http2",)))
        for label, url, payload, extra in cases:
            with self.subTest(label):
                rc, version, code, body, err = self.curl(url, payload, *extra)
                self.assertEqual((rc, version, code), (0, "1.1", 413), err + body.decode(errors="replace"))
                self.assertEqual(json.loads(body), {"error": "payload_too_large", "detail": "body exceeds body_limit"})
        # the daemon is up, and a webhook under the limit still goes through
        doc = harness.sample("generic/outcome.json")
        small = os.path.join(self.tmp, "small.json")
        with open(small, "wb") as f:
            f.write(doc)
        headers = harness.generic_headers(harness.GENERIC_SECRET, doc)
        hargs = [a for k, v in headers.items() for a in ("-H", f"{k}: {v}")]
        rc, version, code, body, err = self.curl(f"https://127.0.0.1:{self.tls_port}/hooks/notetaker", small,
                                                 "--http2", *hargs)
        self.assertEqual((rc, version, code), (0, "1.1", 202), err + body.decode(errors="replace"))
        self.wait_successful_puts(1)
        self.assertEqual(d.stop(), 0)

    def test_sighup_loads_a_replaced_certificate(self):
        d = self.start_tls_daemon()
        first = self.fingerprint(self.cert)
        self.assertEqual(self.https("GET", "/healthz", self.cert)[2], first)
        new_cert, new_key = make_cert(self.tmp, "second")
        os.replace(new_cert, self.cert)
        os.replace(new_key, self.key)
        d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(harness.wait_until(lambda: "config reloaded" in d.log_text(), timeout=10), d.log_tail())
        status, _, fp, _ = self.https("GET", "/healthz", self.cert)
        self.assertEqual(status, 200)
        self.assertNotEqual(fp, first)
        self.assertEqual(fp, self.fingerprint(self.cert))


if __name__ == "__main__":
    harness.run()
