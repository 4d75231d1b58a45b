"""What every studio request handler shares: the store, the templates, the grader, the guard; and the
wrapper that makes an endpoint a guarded write."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from evalkit.store import Store
from evalkit.studio.security import SESSION_COOKIE, Guard
from evalkit.studio.views import num, pct

MAX_FORM_BYTES = 1_000_000


@dataclass
class Studio:
    """What every request handler shares."""

    store: Store
    grader: str
    read_only: bool = False
    guard: Guard = field(default_factory=Guard)
    templates: jinja2.Environment = field(init=False)

    def __post_init__(self) -> None:
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("evalkit.studio", "templates"),
            autoescape=True,  # outputs, ids, tags and reasons are data: every value is escaped
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["pct"] = pct
        self.templates.filters["num"] = num
        self.templates.filters["fromjson"] = json.loads

    def render(self, request: Request, template: str, **context: Any) -> HTMLResponse:
        """A page, with what every page needs: the CSRF token, the grader, read-only mode."""
        page = self.templates.get_template(template).render(
            csrf=self.guard.csrf_token(request.state.session),
            grader=self.grader,
            read_only=self.read_only,
            **context,
        )
        return HTMLResponse(page)


def studio_of(request: Request) -> Studio:
    studio: Studio = request.app.state.studio
    return studio


async def form_of(request: Request) -> dict[str, str]:
    """The fields of a url-encoded form (last value of each), read without extra dependencies."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {key: values[-1] for key, values in parsed.items()}


Handler = Callable[[Request, dict[str, str]], Awaitable[Response]]


def write(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A write endpoint: refused (403, nothing changed) in read-only mode or without the session's CSRF token."""

    async def endpoint(request: Request) -> Response:
        studio = studio_of(request)
        if studio.read_only:
            return PlainTextResponse("the studio runs --read-only: nothing was changed", status_code=403)
        form = await form_of(request)
        if not studio.guard.csrf_ok(request.cookies.get(SESSION_COOKIE), form.get("csrf")):
            return PlainTextResponse("missing or wrong CSRF token: nothing was changed", status_code=403)
        return await handler(request, form)

    return endpoint
