"""Serving the studio: uvicorn on loopback (by default) on a free port, the store held open meanwhile."""

from __future__ import annotations

import errno
import os
import secrets
import socket
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass

from evalkit.errors import UsageError
from evalkit.store import Store
from evalkit.studio.app import create_app
from evalkit.studio.security import needs_token


@dataclass(frozen=True)
class Listening:
    """Where the studio answers, and the URL to open (with the access token when one is needed)."""

    host: str
    port: int
    token: str | None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")


def free_port(host: str) -> int:
    """A port nothing listens on now (the OS picks it)."""
    with bind(host, 0) as probe:
        port: int = probe.getsockname()[1]
        return port


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port``, for uvicorn to listen on; a :class:`UsageError` saying why
    when it cannot be (the port taken, the host not an address of this machine)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise _unbindable(host, port, exc) from None


def _unbindable(host: str, port: int, exc: OSError) -> UsageError:
    reason = (exc.strerror or str(exc)).split(" (while attempting")[0]  # create_server's addition
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return UsageError(f"--host {host}: not an address of this machine ({reason})")
    if exc.errno == errno.EADDRINUSE:
        return UsageError(
            f"--port {port}: another program already listens on {host}:{port}: pick another --port, "
            "or leave it out for a free one"
        )
    if exc.errno == errno.EACCES:
        return UsageError(f"--port {port}: not allowed to listen on {host}:{port} ({reason})")
    return UsageError(f"cannot listen on {host}:{port}: {reason}")


def plan(host: str, port: int | None, *, allow_remote: bool) -> Listening:
    """Check the host choice and pick the port and token: beyond loopback only when asked, and then
    with an access token (``$EVALKIT_VIEW_TOKEN``, or a random one)."""
    token = None
    if needs_token(host):
        if not allow_remote:
            raise UsageError(
                f"--host {host} would let other machines reach the studio: add --allow-remote "
                "(every request then needs the access token printed at start)"
            )
        token = os.environ.get("EVALKIT_VIEW_TOKEN") or secrets.token_urlsafe(24)
    return Listening(host=host, port=port or free_port(host), token=token)


def hand_over_when_asked(store: Store, stop: threading.Event, every: float = 0.2) -> None:
    """Until ``stop``: every ``every`` seconds, let go of a held database file another process waits for
    (an idle studio must not keep ``evalkit run`` out)."""
    release = getattr(store.backend, "release_if_asked", None)
    if release is None:  # PostgreSQL: nothing is held
        return
    while not stop.wait(every):
        release()


def serve(
    store: Store,
    listening: Listening,
    *,
    grader: str,
    read_only: bool = False,
    open_browser: bool = True,
    announce: Callable[[str], None] = print,
) -> None:
    """Run the studio until interrupted."""
    import uvicorn

    app = create_app(store, grader=grader, read_only=read_only, token=listening.token)
    listener = bind(listening.host, listening.port)  # refused here, before saying it listens
    scope = "this machine only" if listening.token is None else "other machines too, with the token"
    announce(
        f"evalkit view: {listening.url} (listening on {listening.host}, reachable from {scope}; "
        f"{'read-only' if read_only else f'grading as {grader}'}; Ctrl-C stops)"
    )
    if open_browser:
        webbrowser.open(listening.url)
    config = uvicorn.Config(
        app, host=listening.host, port=listening.port, log_level="warning", access_log=False
    )
    with listener, store.hold():  # opening a DuckDB file costs ~85 ms: keep it open, yielding to others
        uvicorn.Server(config).run(sockets=[listener])
