"""What the browser scripts need besides static files: their translations, and the widget.

`/i18n/{locale}.json` serves the same gettext catalogue as the templates, so the scripts hold no
text of their own. `/widget.js` is the one line a host site embeds; it is served from the root
(not `/static/`) so the embed code never changes with the file layout.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from web.i18n import LOCALES, catalogue_messages

# Translations change with a deployment only; a short cache keeps a release's text fresh.
CATALOGUE_MAX_AGE = 300


async def catalogue(request: Request) -> Response:
    locale = request.path_params["locale"]
    if locale not in LOCALES:
        return JSONResponse(
            {"error": {"code": "unknown_locale", "message": f"one of {', '.join(LOCALES)}"}},
            status_code=404,
        )
    return JSONResponse(
        {"locale": locale, "messages": catalogue_messages(locale)},
        headers={"cache-control": f"public, max-age={CATALOGUE_MAX_AGE}"},
    )


async def widget(request: Request) -> Response:
    source = resources.files("web") / "static" / "js" / "widget.js"
    return Response(
        source.read_bytes(),
        media_type="text/javascript",
        headers={"cache-control": f"public, max-age={CATALOGUE_MAX_AGE}"},
    )


routes = [
    Route("/i18n/{locale}.json", catalogue),
    Route("/widget.js", widget),
]
