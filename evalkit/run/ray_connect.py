"""Connecting to Ray for ``evalkit run --ray [ADDRESS]``: a session already open in this process, a
new local one, or a cluster, whose address is checked first (see :func:`connect`)."""

from __future__ import annotations

import socket
from typing import Any

from evalkit.errors import UsageError

PROBE_SECONDS = 10.0  # how long a cluster's address may take to accept a connection
CLIENT = "ray://"  # a Ray Client address, which ray.init connects to as given


def connect(address: str | None) -> Any:
    """Connect to Ray: an existing session in this process, a cluster ``address``, or a new local one."""
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray: pip install 'evalkit[ray]'") from None
    from evalkit.run.signals import handlers_restored  # not on workers: it imports the store

    if ray.is_initialized():
        return ray
    local = address in (None, "", "local")
    settings: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "configure_logging": False,
    }
    if not local:
        settings["address"] = address
        silent = _unanswered(str(address))
        if silent is not None:
            raise UsageError(f"--ray {address}: cannot connect to the Ray cluster: {silent}")
    try:
        with handlers_restored():  # a run's SIGINT/SIGTERM handling, not Ray's sys.exit
            ray.init(**settings)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        if local:
            raise
        raise UsageError(f"--ray {address}: cannot connect to the Ray cluster: {exc}") from None
    return ray


def _unanswered(address: str) -> str | None:
    """Why nothing answers at the address ``ray.init`` would connect to, or None (also when that
    cannot be told: ``ray.init`` then says what is wrong). ``ray.init`` retries an address where no
    cluster listens for ever, deaf to Ctrl-C, printing a warning every few seconds (and gives up on a
    ``ray://`` one after 30 s, with a warning of several lines)."""
    from ray._private.services import canonicalize_bootstrap_address  # as ray.init resolves it

    try:
        bootstrap = (
            address.removeprefix(CLIENT)
            if address.startswith(CLIENT)
            else canonicalize_bootstrap_address(address)
        )
    except (ConnectionError, ValueError):
        return None
    host, _, port = (bootstrap or "").rpartition(":")
    if not host or not port.isdigit():
        return None
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS):
            return None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return f"nothing answers at {bootstrap} ({reason}): is the address right, and the cluster up?"
