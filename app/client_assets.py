"""What the browser scripts need besides static files: their translations.

`/i18n/{locale}.json` serves the same gettext catalogue as the templates, so the scripts hold no
text of their own.
"""

from __future__ import annotations

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


routes = [
    Route("/i18n/{locale}.json", catalogue),
]
