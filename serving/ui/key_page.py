"""The page where a salesperson enters an API key (GET and POST /ui/key), once the service asks
for keys (serving.auth): a valid key of at least `score` is kept in the browser as an HttpOnly
cookie (serving.auth.KEY_COOKIE) and the browser goes back to the page it asked for.

The cookie is SameSite=Lax, like the language cookie: a link from the CRM or an e-mail opens a
lead's page without asking for the key again, while another site's page can neither post with it
(Lax sends it with top-level GETs only; /outcomes also takes JSON only, serving.guard) nor frame
the pages (pages.SECURITY_HEADERS). `Secure` when the page was asked over HTTPS (directly or as
a reverse proxy's X-Forwarded-Proto says). A POST from another origin is refused (403), so no
other site can put its own key into a salesperson's browser.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from starlette.responses import RedirectResponse, Response

from serving.auth import KEY_COOKIE, key_watch

FORM_BYTES = 4096
"""The largest form taken (a key is 60 characters)."""
HOME = "/ui/leads"


def safe_next(target: str) -> str:
    """Where to go after the key is taken: a page of this service (/ui/...), else the queue (never
    another site: `//host`, `/\\host` and absolute addresses are refused)."""
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc or not target.startswith("/ui/") or target.startswith("/ui/key")
            or "\\" in target or any(ord(c) < 32 for c in target)):
        return HOME
    return target


def _same_origin(request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # no Origin header: not a browser's cross-site form (browsers send it with POSTs)
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


def _secure(request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


def key_form(pages, request, status: int = 200, problem: str | None = None) -> Response:
    watch = key_watch()
    return pages.render(request, "key.html", status=status, problem=problem,
                        next=safe_next(request.query_params.get("next", "")),
                        required=bool(watch and watch.ring.required))


async def take_key(pages, request) -> Response:
    """POST /ui/key (form: key, next; or forget=1 to remove the key from this browser)."""
    from features.i18n import translations

    _ = translations(pages.language(request)).gettext
    if not _same_origin(request):
        return key_form(pages, request, 403, _("This form can only be sent from this service's own pages."))
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_BYTES:
            return key_form(pages, request, 413, _("The form is too large: paste only the key."))
    form = {name: values[0] for name, values in parse_qs(body.decode("utf-8", "replace")).items()}
    target = safe_next(form.get("next", ""))
    if form.get("forget"):
        response = RedirectResponse("/ui/key", status_code=303)
        response.delete_cookie(KEY_COOKIE, path="/")
        return response
    watch = key_watch()
    if watch is None or not watch.ring.required:
        return RedirectResponse(target, status_code=303)  # no key is asked for
    token = form.get("key", "").strip()
    verdict = await watch.verdict(token or None, "score")
    if verdict.status != 200:
        return key_form(pages, request, 401, _("This key is not valid (unknown, revoked or mistyped): ask for "
                                               "a key made with `leadscore keys create`."))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(KEY_COOKIE, token, httponly=True, samesite="lax", secure=_secure(request), path="/")
    return response
