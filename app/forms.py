"""Reading posted forms: a size bound, CSRF checked before anything is done."""

from __future__ import annotations

from starlette.requests import Request

from app import csrf
from app.identity import services_of

# A sign-in form is a few hundred bytes and an account form a few kilobytes; anything far
# larger is not one of ours.
MAX_FORM_BYTES = 8 * 1024

Form = dict[str, list[str]]


async def read_form(request: Request, max_fields: int = 20) -> Form | None:
    """The posted form, every value of each field as strings; None when it is too large or
    not a form."""
    length = request.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > MAX_FORM_BYTES:
        return None
    form = await request.form(max_files=0, max_fields=max_fields)
    fields: Form = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(key, []).append(value)
    return fields


def one(form: Form, name: str) -> str:
    """A field's first value, or "" when absent."""
    values = form.get(name)
    return values[0] if values else ""


def csrf_ok(request: Request, form: Form) -> bool:
    """True when the form carries the CSRF token of this browser's cookie."""
    return csrf.is_valid(
        services_of(request).settings.secret_key,
        request.cookies.get(csrf.CSRF_COOKIE),
        one(form, csrf.CSRF_FIELD),
    )
