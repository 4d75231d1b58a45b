"""The studio's ASGI app: routes, the security middleware.

``create_app(store)`` is all a server (or a test) needs. Reads go through :mod:`evalkit.store`;
writes through :mod:`evalkit.studio.actions`, which reuse ``evalkit review``'s code.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from evalkit.store import Store
from evalkit.studio import actions, pages
from evalkit.studio.group_page import group_page
from evalkit.studio.security import SECURITY_HEADERS, SESSION_COOKIE, TOKEN_COOKIE, Guard
from evalkit.studio.state import Studio, studio_of, write


class Protect(BaseHTTPMiddleware):
    """Session cookie, access token (off loopback), security headers and the server's time
    (``Server-Timing: app;dur=MS``) on every response."""

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        guard = studio_of(request).guard
        presented = request.query_params.get("token")
        if not guard.host_ok(request.headers.get("host")):
            response: Response = PlainTextResponse(
                "unknown Host: open the studio at its loopback URL", status_code=421
            )
        elif not guard.token_ok(request.cookies.get(TOKEN_COOKIE)) and not guard.token_ok(presented):
            response = PlainTextResponse(
                "this studio needs its access token: open the URL `evalkit view` printed", status_code=401
            )
        elif guard.token is not None and presented is not None:
            # the token moves from the URL into a cookie, and the URL is cleaned
            response = RedirectResponse(request.url.remove_query_params("token"), status_code=303)
            response.set_cookie(TOKEN_COOKIE, guard.token, httponly=True, samesite="strict")
        else:
            session = request.cookies.get(SESSION_COOKIE)
            fresh = session is None or len(session) > 64
            request.state.session = guard.new_session() if fresh else session
            response = await call_next(request)
            if fresh:
                response.set_cookie(SESSION_COOKIE, request.state.session, httponly=True, samesite="strict")
        response.headers.update(SECURITY_HEADERS)
        response.headers["Server-Timing"] = f"app;dur={1000 * (time.perf_counter() - start):.1f}"
        return response


def create_app(store: Store, *, grader: str, read_only: bool = False, token: str | None = None) -> Starlette:
    """The studio over ``store``. ``token``: required of every request (set when not on loopback)."""
    routes = [
        Route("/", pages.runs_page),
        Route("/runs/{run_id}", pages.run_page),
        Route("/runs/{run_id}/case", pages.case_page),
        Route("/compare", pages.compare_page),
        Route("/trend", pages.trend_page),
        Route("/groups/{group_id}", group_page),
        Route("/queue", pages.queue_page),
        Route("/grade", write(actions.grade), methods=["POST"]),
        Route("/flag", write(actions.flag), methods=["POST"]),
        Route("/correct", write(actions.correct), methods=["POST"]),
        Route("/candidate", write(actions.candidate), methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("evalkit.studio", "static")]), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(Protect)])
    app.state.studio = Studio(store=store, grader=grader, read_only=read_only, guard=Guard(token=token))
    return app
