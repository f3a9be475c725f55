"""The google-cloud-storage clients the runtime reads and writes `gs://` with: one per
thread, handed on when a short-lived thread ends, and each made to read its
environment once.

requests reads the environment on every request: the proxies (a walk through every
variable, twice), `~/.netrc`, and the CA bundle variables. That came to about 0.2 ms
of CPU per request here, more than a request to the storage emulator otherwise costs
the client. A client made here reads them once, when made: the proxies for its
endpoint (`HTTPS_PROXY`, `NO_PROXY`, ...) and `REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE`,
as requests would. Two differences: a change to those variables after the client is
made is not seen, and `~/.netrc` is never read (its password would replace the
client's own credentials on every request).
"""

from __future__ import annotations

import os
import threading

_clients = threading.local()
_idle_clients: list = []  # clients of threads that ended, for the next short-lived thread


def environment_read_once(client) -> None:
    """Makes `client`'s session use the environment's proxies and CA bundle as read
    now, instead of reading them on every request (see the module docstring)."""
    from requests.utils import get_environ_proxies

    session = client._http  # the client's requests.Session (google-auth's)
    session.proxies.update(get_environ_proxies(client.api_endpoint))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and session.verify is True:
        session.verify = bundle
    session.trust_env = False


def new_client():
    """A google-cloud-storage client (STORAGE_EMULATOR_HOST is honoured) that reads its
    environment once."""
    from google.cloud import storage

    client = storage.Client()
    environment_read_once(client)
    return client


def gcs_client():
    """This thread's client: one made for it, or one a short-lived thread gave back
    (`release_gcs_client`)."""
    client = getattr(_clients, "client", None)
    if client is None:
        try:
            client = _idle_clients.pop()
        except IndexError:
            client = new_client()
        _clients.client = client
    return client


def release_gcs_client() -> None:
    """Gives this thread's client, if it has one, to the next thread that needs one: a
    thread that ends calls it, so a thread per call does not make a client per call."""
    client = getattr(_clients, "client", None)
    if client is not None:
        _clients.client, _clients.buckets = None, {}
        _idle_clients.append(client)


def bucket_handle(name: str):
    """A bucket handle of this thread's client, made once per bucket name (a handle
    holds no state that reads and writes change; making one costs more than a lookup)."""
    client = gcs_client()
    buckets = getattr(_clients, "buckets", None)
    if buckets is None:
        buckets = _clients.buckets = {}
    bucket = buckets.get(name)
    if bucket is None or bucket.client is not client:
        bucket = buckets[name] = client.bucket(name)
    return bucket
