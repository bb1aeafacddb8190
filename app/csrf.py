"""CSRF protection for form posts: a signed double-submit token.

Each browser gets a random value in an HttpOnly, SameSite=Strict cookie. Forms carry an HMAC of
that value under the server's secret key, so a site that can plant a cookie still cannot forge a
matching form token. A post whose token does not match is refused with 403 before it does anything.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

CSRF_COOKIE = "eguide_csrf"
CSRF_FIELD = "csrf_token"


def new_cookie_value() -> str:
    return secrets.token_urlsafe(32)


def form_token(secret_key: str, cookie_value: str) -> str:
    """The token a form must carry for this browser's cookie."""
    return hmac.new(secret_key.encode(), cookie_value.encode(), hashlib.sha256).hexdigest()


def is_valid(secret_key: str, cookie_value: str | None, submitted: str | None) -> bool:
    """True when the submitted form token belongs to the cookie."""
    if not cookie_value or not submitted or len(cookie_value) > 128:
        return False
    return hmac.compare_digest(form_token(secret_key, cookie_value), submitted)
