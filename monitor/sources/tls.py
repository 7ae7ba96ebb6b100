"""The TLS context every fetch verifies certificates with, loaded beside start-up.

Loading the trusted certificates (httpx's default: certifi's bundle, or ``SSL_CERT_FILE`` /
``SSL_CERT_DIR``) takes 25-50 ms, most of it in OpenSSL with the GIL released. A command that
will fetch calls ``preload`` first thing, so the load runs on the other core while this one
imports modules and reads the config; ``context`` then waits for it (or loads it, when nobody
preloaded).
"""

from __future__ import annotations

import os
import ssl
import threading
from concurrent.futures import Future

_loading: Future[ssl.SSLContext] | None = None


def _load() -> ssl.SSLContext:
    """What ``httpx.create_ssl_context()`` makes, without importing httpx (in a thread that
    would hold the GIL the main thread's imports want)."""
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def preload() -> None:
    """Start loading the context in a thread (once per process)."""
    global _loading
    if _loading is not None:
        return
    future: Future[ssl.SSLContext] = Future()

    def run() -> None:
        try:
            future.set_result(_load())
        except BaseException as exc:  # handed to whoever asks for the context
            future.set_exception(exc)

    _loading = future
    threading.Thread(target=run, name="tls-preload", daemon=True).start()


def context() -> ssl.SSLContext:
    """The loaded context; a failure to load is raised here, as httpx would have raised it."""
    global _loading
    if _loading is None:
        return _load()
    future, _loading = _loading, None  # a client made later loads afresh (the env may change)
    return future.result()
