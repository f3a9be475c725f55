"""The google-cloud-storage clients the runtime reads and writes `gs://` with: one per
thread, handed on when a short-lived thread ends, and each made to read its
environment once.

On every request, requests looks up in the environment the proxies for the request's
host (walking every variable, twice) and the CA bundle variables. With the 36
variables of these machines that was about 0.15 ms per request, more than a request
to the local storage emulator otherwise costs the client (and it grows with the
environment). A client made here looks them up once: the CA bundle
(`REQUESTS_CA_BUNDLE`, else `CURL_CA_BUNDLE`) when it is made, the proxies
(`HTTPS_PROXY`, `NO_PROXY`, ... applied as requests applies them) once per scheme and
host: for its API endpoint when it is made, for another host (a redirect's, a
resumable upload's) on its first request there. The one difference: a later change to
those variables is not seen. Everything else requests does with the environment is
left as it is (`~/.netrc`, proxies on redirects), as are the requests google-auth
makes to refresh a token.
"""

from __future__ import annotations

import os
import threading
import urllib.parse

_clients = threading.local()
_idle_clients: list = []  # clients of threads that ended, for the next short-lived thread


def environment_read_once(session, endpoint: str) -> None:
    """Makes a requests session look up the environment's proxies once per scheme and
    host (`endpoint`'s now), and its CA bundle now (see the module docstring), instead
    of on every request."""
    from requests.sessions import merge_setting
    from requests.utils import get_environ_proxies

    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    proxies_for: dict[tuple, dict] = {}

    def merge_environment_settings(url, proxies, stream, verify, cert):
        if session.trust_env:
            no_proxy = proxies.get("no_proxy") if proxies is not None else None
            where = (*urllib.parse.urlsplit(url)[:2], no_proxy)
            found = proxies_for.get(where)
            if found is None:
                found = proxies_for[where] = get_environ_proxies(url, no_proxy=no_proxy)
            if proxies is not None:
                for scheme, proxy in found.items():
                    proxies.setdefault(scheme, proxy)
            if verify is True or verify is None:
                verify = bundle or verify
        return {
            "proxies": merge_setting(proxies, session.proxies),
            "stream": merge_setting(stream, session.stream),
            "verify": merge_setting(verify, session.verify),
            "cert": merge_setting(cert, session.cert),
        }

    session.merge_environment_settings = merge_environment_settings
    merge_environment_settings(endpoint, {}, None, None, None)  # the endpoint's, now


def new_client():
    """A google-cloud-storage client (STORAGE_EMULATOR_HOST is honoured) that reads its
    environment once."""
    from google.cloud import storage

    client = storage.Client()
    # the client's requests session (google-auth's)
    environment_read_once(client._http, client.api_endpoint)
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
    if bucket is None:  # handles go with their client (release_gcs_client)
        bucket = buckets[name] = client.bucket(name)
    return bucket
