"""The runtime's storage clients read proxies and CA bundles once, as requests would,
through a real forward proxy on 127.0.0.1 in front of the storage emulator."""

import http.client
import http.server
import threading
import urllib.parse

import pytest
import requests

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


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def proxy_environment(monkeypatch, **variables: str) -> None:
    """Exactly these proxy variables (upper case), none of the others in either case."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def _round_trip(client, bucket: str, name: str) -> bytes:
    blob = client.bucket(bucket).blob(name)
    blob.upload_from_string(b"through", if_generation_match=0)
    return client.bucket(bucket).blob(name).download_as_bytes()


def test_the_proxy_set_when_the_client_is_made_is_used(gcs_bucket, proxy, monkeypatch):
    proxy_environment(monkeypatch, HTTP_PROXY=proxy.url)
    client = new_client()
    monkeypatch.delenv("HTTP_PROXY")  # read once: the client keeps what it read
    assert _round_trip(client, gcs_bucket, "a.txt") == b"through"
    lines = [line for line, _ in proxy.seen]
    assert any(line.startswith("POST http://") and "/upload/" in line for line in lines)
    assert any(line.startswith("GET http://") and "a.txt" in line for line in lines)


def test_no_proxy_is_honoured_and_later_changes_are_not_seen(gcs_bucket, proxy, monkeypatch):
    proxy_environment(monkeypatch, HTTP_PROXY=proxy.url, NO_PROXY="127.0.0.1,localhost")
    client = new_client()
    monkeypatch.delenv("NO_PROXY")  # too late: the client bypasses the proxy
    assert _round_trip(client, gcs_bucket, "b.txt") == b"through"
    assert proxy.seen == []


def test_proxies_are_looked_up_per_host(gcs_bucket, proxy, monkeypatch):
    proxy_environment(monkeypatch, HTTP_PROXY=proxy.url, NO_PROXY="localhost")
    client = new_client()
    endpoint = client.api_endpoint  # http://127.0.0.1:<port>
    assert client._http.get(f"{endpoint}/storage/v1/b/{gcs_bucket}").ok  # proxied
    direct = endpoint.replace("127.0.0.1", "localhost")
    assert client._http.get(f"{direct}/storage/v1/b/{gcs_bucket}").ok  # NO_PROXY: direct
    assert [line.split("/storage/")[0] for line, _ in proxy.seen] == [f"GET {endpoint}"]


def test_ranged_reads_through_the_media_link_use_the_proxy(gcs_bucket, proxy, monkeypatch):
    proxy_environment(monkeypatch, HTTP_PROXY=proxy.url)
    client = new_client()
    blob = client.bucket(gcs_bucket).blob("ranged.bin")
    blob.upload_from_string(bytes(range(256)) * 40)
    blob = client.bucket(gcs_bucket).blob("ranged.bin")
    blob.reload()  # as storage.open_for_reading opens gs:// objects
    with blob.open("rb", raw_download=True) as stream:
        stream.seek(1000)
        assert stream.read(10) == (bytes(range(256)) * 40)[1000:1010]
    assert any("alt=media" in line for line, _ in proxy.seen)


@pytest.mark.parametrize(
    "variables",
    [
        {"CURL_CA_BUNDLE": "curl.pem"},
        {"REQUESTS_CA_BUNDLE": "requests.pem", "CURL_CA_BUNDLE": "curl.pem"},
        {"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "127.0.0.1"},
        {"HTTP_PROXY": "http://proxy.example:3128"},
        {},
    ],
)
@pytest.mark.parametrize(
    "arguments",
    [
        ({}, None, None, None),
        (None, None, None, None),
        ({"no_proxy": "127.0.0.1"}, True, None, None),
        ({"https": "http://given:1"}, False, None, None),
        ({}, "/given/ca.pem", True, "client.pem"),
    ],
)
def test_settings_are_the_ones_requests_would_use(
    emulators, monkeypatch, tmp_path, variables, arguments
):
    proxy_environment(monkeypatch)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value if "PROXY" in name else str(tmp_path / value))
    client = new_client()
    session = client._http
    for url in (f"{client.api_endpoint}/storage/v1/b", "https://elsewhere.example/o"):
        proxies, verify, stream, cert = arguments
        mine = session.merge_environment_settings(url, _copy(proxies), stream, verify, cert)
        expected = requests.Session().merge_environment_settings(
            url, _copy(proxies), stream, verify, cert
        )
        assert mine == expected, url


def _copy(proxies):
    return dict(proxies) if proxies is not None else None
