"""The token gate: every request shows the dashboard's one-time token, in the URL
`aiki ui` printed (`?token=…`, then swapped for a cookie and dropped from the address)
or in that cookie; anything else gets 403. A form posted from another site is refused
too: the cookie is SameSite=Strict and the Origin must be the dashboard's own."""

from __future__ import annotations

import secrets

from starlette.datastructures import URL
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp

from .render import Site, render

REFUSED = "This dashboard needs its token: open the link `aiki ui` printed."


def new_token() -> str:
    return secrets.token_urlsafe(24)


class TokenGate(BaseHTTPMiddleware):
    def __init__(self, app: ASGIApp, token: str) -> None:
        super().__init__(app)
        self.token = token

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        cookie = cookie_name(request.url)
        given = request.query_params.get("token")
        if given is not None and self._is_token(given) and request.method == "GET":
            response = RedirectResponse(
                str(request.url.remove_query_params("token")), status_code=303
            )
            response.set_cookie(cookie, self.token, httponly=True, samesite="strict")
            return response
        if not self._is_token(request.cookies.get(cookie, "")) or _foreign(request):
            page = render("message.html", site=Site(), message=REFUSED)
            return HTMLResponse(page, status_code=403)
        return await call_next(request)

    def _is_token(self, given: str) -> bool:
        return secrets.compare_digest(given.encode(), self.token.encode())


def cookie_name(url: URL) -> str:
    """One cookie per port: dashboards of two stores on one host keep their own."""
    return f"aiki_ui_{url.port or 80}"


def _foreign(request: Request) -> bool:
    """Whether a form was posted from a page that is not the dashboard's."""
    origin = request.headers.get("origin")
    if request.method == "GET" or origin is None:
        return False
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin != own
