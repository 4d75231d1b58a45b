"""Serving the studio: uvicorn on loopback (by default) on a free port, the store held open meanwhile."""

from __future__ import annotations

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
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


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
    with store.hold():  # opening a DuckDB file costs ~85 ms: keep it open, yielding to other processes
        uvicorn.Server(config).run()
