"""The runtime's storage clients read proxies and CA bundles once, as requests would,
through a real forward proxy on 127.0.0.1 in front of the storage emulator."""

import http.client
import http.server
import threading
import urllib.parse

import pytest

from cadenza.runtime.gcs_clients import new_client


class _ForwardProxy(http.server.ThreadingHTTPServer):
    """A plain-HTTP forward proxy: requests in absolute form, passed on; it records
    each request line and Authorization header."""

    daemon_threads = True

    def __init__(self):
        self.seen: list[tuple[str, str | None]] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _forward(self):
        self.server.seen.append((f"{self.command} {self.path}", self.headers.get("Authorization")))
        target = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        path = target.path + (f"?{target.query}" if target.query else "")
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
        upstream.request(self.command, path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    def log_message(self, *args):
        pass


@pytest.fixture
def proxy():
    server = _ForwardProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _round_trip(client, bucket: str, name: str) -> bytes:
    blob = client.bucket(bucket).blob(name)
    blob.upload_from_string(b"through", if_generation_match=0)
    return client.bucket(bucket).blob(name).download_as_bytes()


def test_the_proxy_set_when_the_client_is_made_is_used(gcs_bucket, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = new_client()
    monkeypatch.delenv("HTTP_PROXY")  # read once: the client keeps what it read
    assert _round_trip(client, gcs_bucket, "a.txt") == b"through"
    lines = [line for line, _ in proxy.seen]
    assert any(line.startswith("POST http://") and "/upload/" in line for line in lines)
    assert any(line.startswith("GET http://") and "a.txt" in line for line in lines)


def test_no_proxy_is_honoured_and_later_changes_are_not_seen(gcs_bucket, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    client = new_client()
    monkeypatch.delenv("NO_PROXY")  # too late: the client bypasses the proxy
    assert _round_trip(client, gcs_bucket, "b.txt") == b"through"
    assert proxy.seen == []


def test_netrc_never_replaces_the_clients_credentials(gcs_bucket, proxy, monkeypatch, tmp_path):
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert _round_trip(new_client(), gcs_bucket, "c.txt") == b"through"
    assert proxy.seen and all(
        auth is None or not auth.startswith("Basic") for _, auth in proxy.seen
    )


def test_the_ca_bundle_variables_are_read_as_requests_reads_them(emulators, monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv("CURL_CA_BUNDLE", str(bundle))
    session = new_client()._http
    assert session.verify == str(bundle) and session.trust_env is False
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "first.pem"))
    assert new_client()._http.verify == str(tmp_path / "first.pem")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE")
    assert new_client()._http.verify is True
