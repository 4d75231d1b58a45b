"""What keeps the studio to its user: a per-session CSRF token on every write, an access token when it
listens beyond loopback, a strict Content-Security-Policy on every response, and read-only mode.

Model outputs, case ids, tags and reasons are data: templates escape them (jinja2 autoescape), and the
policy allows scripts only from the studio's own ``/static/`` files, so no inline script or event
handler in a payload can run even if escaping were missed somewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SESSION_COOKIE = "evalkit_studio_session"
TOKEN_COOKIE = "evalkit_studio_token"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'; connect-src 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Guard:
    """The secrets of one studio process. ``token`` is set when it listens beyond loopback."""

    token: str | None = None
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    @staticmethod
    def new_session() -> str:
        return secrets.token_urlsafe(24)

    def csrf_token(self, session: str) -> str:
        """The CSRF token of a session: an HMAC of the session id, so nothing needs to be stored."""
        return hmac.new(self.secret, session.encode(), hashlib.sha256).hexdigest()[:40]

    def csrf_ok(self, session: str | None, submitted: str | None) -> bool:
        """Whether a write carries its session's CSRF token."""
        if not session or not submitted:
            return False
        return hmac.compare_digest(self.csrf_token(session), submitted)

    def host_ok(self, host_header: str | None) -> bool:
        """Whether the request names this machine. Without a token (loopback), a page fetched under
        another name is a DNS-rebinding attempt: a web page's script posing as this origin."""
        if self.token is not None:
            return True
        host = (host_header or "").strip().lower()
        if host.startswith("["):
            host = host[1 : host.find("]")] if "]" in host else host
        elif host.count(":") == 1:
            host = host.split(":", 1)[0]
        return host in LOOPBACK_HOSTS

    def token_ok(self, presented: str | None) -> bool:
        """Whether a request may in: always on loopback, else only with the access token."""
        if self.token is None:
            return True
        return presented is not None and hmac.compare_digest(self.token, presented)


def needs_token(host: str) -> bool:
    """Whether listening on ``host`` reaches beyond this machine."""
    return host not in LOOPBACK_HOSTS
