"""The admin page: staff accounts created, changed, disabled and given new passwords.

Every form posts with a CSRF token, is validated whole before anything is written, and is
carried out in one transaction with its audit entry (actor: the signed-in admin). A rejected
form comes back with status 400 and each error next to its field. Disabling an account or
changing its password ends all its sessions, which closes its open sockets on every instance.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.auth import requires_role
from app.forms import Form, csrf_ok, one, read_form
from app.identity import current_session, services_of
from app.pages import language_name
from app.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from app.rendering import locale_of, render, render_error
from app.routing_config import router_changes
from app.users import (
    LANGUAGE_PATTERN,
    MAX_CAPACITY,
    MIN_CAPACITY,
    ROLES,
    USERNAME_PATTERN,
    AccountChanges,
    User,
    UserError,
    create_user,
    find_user,
    list_users,
    set_disabled,
    set_password,
    update_user,
)
from queueing.model import PolicyError
from web.i18n import translations

# Centre and language checkboxes: 15 counties, a dozen languages, and the other fields.
MAX_FIELDS = 60

# Notices shown after a change, by the `done` query parameter of the redirect.
DONE = ("created", "updated", "unchanged", "password", "disabled", "enabled")


@dataclass
class AccountForm:
    """What an admin typed, kept to show the form again, and the errors by field name."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _messages(request: Request) -> dict[str, str]:
    """Each validation problem in the page's language, by the code `UserError` names."""
    gettext = translations(locale_of(request)).gettext
    return {
        "username": gettext(
            "A username is 2 to 63 characters: lower-case letters, digits, full stop, "
            "underscore or hyphen, starting with a letter or digit."
        ),
        "taken": gettext("That username is taken."),
        "display_name": gettext("A name is 1 to 100 characters."),
        "role": gettext("Choose a role."),
        "password_length": gettext("A password is %(low)s to %(high)s characters.")
        % {"low": MIN_PASSWORD_LENGTH, "high": MAX_PASSWORD_LENGTH},
        "password_mismatch": gettext("The two passwords differ."),
        "languages": gettext("Choose at least one language from the list."),
        "capacity": gettext("Capacity is a whole number from %(low)s to %(high)s.")
        % {"low": MIN_CAPACITY, "high": MAX_CAPACITY},
        "centres": gettext("Choose centres from the list."),
        "unknown_centre": gettext("Choose centres from the list."),
        "self": gettext("You cannot disable your own account."),
        "no_user": gettext("No account has that username."),
    }


# Where each UserError code is shown.
_FIELD_OF = {"taken": "username", "unknown_centre": "centres", "password_length": "password"}


async def _choices(request: Request, account: User | None = None) -> dict[str, Any]:
    """The centres and languages an account can have; an account's own languages stay
    listed even when the service no longer offers them, so saving does not drop them."""
    services = services_of(request)
    rows = await services.db.fetch(
        "SELECT id, name FROM centres WHERE id <> 'national' ORDER BY id"
    )
    codes = list(services.settings.chat_languages)
    if account is not None:
        codes += [code for code in account.languages if code not in codes]
    locale = locale_of(request)
    return {
        "centre_choices": [{"id": r["id"], "name": r["name"]} for r in rows],
        "language_choices": [{"code": c, "name": language_name(c, locale)} for c in codes],
        "role_choices": ROLES,
    }


def _routing_fields(form: Form, choices: dict[str, Any], errors: dict[str, str]) -> AccountChanges:
    """Centres, national team, languages and capacity from a form, each checked against what
    the page offered; problems go into `errors` by field."""
    centres = tuple(form.get("centres", []))
    known_centres = {c["id"] for c in choices["centre_choices"]}
    if any(c not in known_centres for c in centres):
        errors["centres"] = "centres"
    languages = tuple(form.get("languages", []))
    known_languages = {c["code"] for c in choices["language_choices"]}
    if not languages or any(
        c not in known_languages or not LANGUAGE_PATTERN.fullmatch(c) for c in languages
    ):
        errors["languages"] = "languages"
    raw_capacity = one(form, "capacity").strip()
    capacity = int(raw_capacity) if raw_capacity.isascii() and raw_capacity.isdigit() else 0
    if not MIN_CAPACITY <= capacity <= MAX_CAPACITY:
        errors["capacity"] = "capacity"
    return AccountChanges(
        centres=centres,
        national_team=one(form, "national") == "yes",
        languages=languages,
        capacity=capacity,
    )


def _translated(request: Request, errors: dict[str, str]) -> dict[str, str]:
    messages = _messages(request)
    fallback = translations(locale_of(request)).gettext("Please try again in a moment.")
    return {name: messages.get(code, fallback) for name, code in errors.items()}


async def _accounts_page(
    request: Request, form: AccountForm | None = None, status_code: int = 200
) -> Response:
    async with services_of(request).db.acquire() as conn:
        accounts = await list_users(conn)
    choices = await _choices(request)
    new = form or AccountForm(
        values={
            "username": "",
            "display_name": "",
            "role": "counsellor",
            "centres": [],
            "national": False,
            "languages": ["nb"],
            "capacity": 2,
        }
    )
    context = {"accounts": accounts, "form": new, **choices}
    return await render(request, "admin.html", context, status_code=status_code)


@requires_role("admin")
async def admin_page(request: Request) -> Response:
    """Every staff account, and a form to create one."""
    return await _accounts_page(request)


async def _checked_form(request: Request) -> Form | Response:
    form = await read_form(request, MAX_FIELDS)
    if form is None:
        return await render_error(request, 413)
    if not csrf_ok(request, form):
        return await render_error(request, 403)
    return form


def _actor(session: Any) -> int:
    assert session is not None  # requires_role let only a signed-in admin through
    return int(session.user_id)


@requires_role("admin")
async def create_account(request: Request) -> Response:
    form = await _checked_form(request)
    if isinstance(form, Response):
        return form
    choices = await _choices(request)
    errors: dict[str, str] = {}
    username = one(form, "username").strip().lower()
    display_name = one(form, "display_name").strip()
    role = one(form, "role")
    password = one(form, "password")
    if not USERNAME_PATTERN.fullmatch(username):
        errors["username"] = "username"
    if not 1 <= len(display_name) <= 100:
        errors["display_name"] = "display_name"
    if role not in ROLES:
        errors["role"] = "role"
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        errors["password"] = "password_length"  # noqa: S105 - an error code
    elif one(form, "password_repeat") != password:
        errors["password_repeat"] = "password_mismatch"  # noqa: S105 - an error code
    routing = _routing_fields(form, choices, errors)
    values = {
        "username": username,
        "display_name": display_name,
        "role": role,
        "centres": list(routing.centres or ()),
        "national": routing.national_team,
        "languages": list(routing.languages or ()),
        "capacity": one(form, "capacity")[:8],
    }
    if not errors:
        try:
            async with services_of(request).db.acquire() as conn:
                await create_user(
                    conn,
                    username=username,
                    display_name=display_name,
                    role=role,
                    password=password,
                    centres=routing.centres or (),
                    national_team=bool(routing.national_team),
                    languages=routing.languages or (),
                    capacity=routing.capacity or 0,
                    actor_user_id=_actor(await current_session(request)),
                )
        except UserError as error:
            errors[_FIELD_OF.get(error.code, error.code)] = error.code
    if errors:
        form_state = AccountForm(values=values, errors=_translated(request, errors))
        return await _accounts_page(request, form_state, status_code=400)
    return RedirectResponse(f"/admin/users/{username}?done=created", status_code=303)


async def _account_page(
    request: Request,
    account: User,
    form: AccountForm | None = None,
    password_errors: dict[str, str] | None = None,
    status_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    choices = await _choices(request, account)
    values = {
        "centres": list(account.centres),
        "national": account.national_team,
        "languages": list(account.languages),
        "capacity": account.capacity,
    }
    done = request.query_params.get("done")
    context = {
        "account": account,
        "form": form or AccountForm(values=values),
        "password_errors": password_errors or {},
        "status_errors": status_errors or {},
        "done": done if done in DONE else None,
        **choices,
    }
    return await render(request, "admin_account.html", context, status_code=status_code)


async def _account_or_404(request: Request) -> User | Response:
    username = str(request.path_params["username"])
    async with services_of(request).db.acquire() as conn:
        account = await find_user(conn, username)
    return account if account is not None else await render_error(request, 404)


@requires_role("admin")
async def account_page(request: Request) -> Response:
    """One account: its centres, national team, languages and capacity; enable or disable
    it; give it a new password."""
    account = await _account_or_404(request)
    if isinstance(account, Response):
        return account
    return await _account_page(request, account)


@requires_role("admin")
async def update_account(request: Request) -> Response:
    account = await _account_or_404(request)
    if isinstance(account, Response):
        return account
    form = await _checked_form(request)
    if isinstance(form, Response):
        return form
    errors: dict[str, str] = {}
    changes = _routing_fields(form, await _choices(request, account), errors)
    changed: dict[str, Any] = {}
    if not errors:
        services = services_of(request)
        try:
            async with services.db.acquire() as conn:
                updated, changed = await update_user(
                    conn,
                    account.username,
                    changes,
                    actor_user_id=_actor(await current_session(request)),
                )
        except UserError as error:
            errors[_FIELD_OF.get(error.code, error.code)] = error.code
        else:
            if changed:
                await _tell_router(request, updated, changed)
    if errors:
        values = {
            "centres": list(changes.centres or ()),
            "national": changes.national_team,
            "languages": list(changes.languages or ()),
            "capacity": one(form, "capacity")[:8],
        }
        form_state = AccountForm(values=values, errors=_translated(request, errors))
        return await _account_page(request, account, form=form_state, status_code=400)
    done = "updated" if changed else "unchanged"
    return RedirectResponse(f"/admin/users/{account.username}?done={done}", status_code=303)


async def _tell_router(request: Request, updated: User, changed: dict[str, Any]) -> None:
    """A counsellor known to the router gets new routing settings at once; one who is not
    (never connected since the routing state was built) gets them from the record when they
    are registered. One left with no centre, national team or language the service offers can
    no longer take chats: signed out, as when disabled, their consoles close and their chats go
    back to the queue once the grace time has passed."""
    services = services_of(request)
    routing = services.routing
    events = router_changes(updated, changed, routing.config)
    if events is None:
        await services.sessions.end_all(updated.id)
        return
    for event in events:
        with contextlib.suppress(PolicyError):
            await routing.router.submit(event)


@requires_role("admin")
async def change_password(request: Request) -> Response:
    account = await _account_or_404(request)
    if isinstance(account, Response):
        return account
    form = await _checked_form(request)
    if isinstance(form, Response):
        return form
    password = one(form, "password")
    errors: dict[str, str] = {}
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        errors["new_password"] = "password_length"  # noqa: S105 - an error code
    elif one(form, "password_repeat") != password:
        errors["new_password_repeat"] = "password_mismatch"  # noqa: S105 - an error code
    if errors:
        translated = _translated(request, errors)
        return await _account_page(request, account, password_errors=translated, status_code=400)
    services = services_of(request)
    async with services.db.acquire() as conn:
        await set_password(
            conn, account.username, password, actor_user_id=_actor(await current_session(request))
        )
    # Whoever knew the old password may be signed in with it: every session ends, and every
    # socket opened with one closes. A limit built up by someone guessing ends too.
    await services.sessions.end_all(account.id)
    await services.signin_limiter.forget_account(account.username)
    return RedirectResponse(f"/admin/users/{account.username}?done=password", status_code=303)


async def _set_disabled(request: Request, disabled: bool) -> Response:
    account = await _account_or_404(request)
    if isinstance(account, Response):
        return account
    form = await _checked_form(request)
    if isinstance(form, Response):
        return form
    actor = _actor(await current_session(request))
    if disabled and account.id == actor:
        # An admin who disabled themselves could not undo it here.
        errors = _translated(request, {"status": "self"})
        return await _account_page(request, account, status_errors=errors, status_code=400)
    services = services_of(request)
    async with services.db.acquire() as conn:
        await set_disabled(conn, account.username, disabled, actor_user_id=actor)
    if disabled:
        await services.sessions.end_all(account.id)
    done = "disabled" if disabled else "enabled"
    return RedirectResponse(f"/admin/users/{account.username}?done={done}", status_code=303)


@requires_role("admin")
async def disable_account(request: Request) -> Response:
    return await _set_disabled(request, True)


@requires_role("admin")
async def enable_account(request: Request) -> Response:
    return await _set_disabled(request, False)


routes = [
    Route("/admin", admin_page, methods=["GET"]),
    Route("/admin/users", create_account, methods=["POST"]),
    Route("/admin/users/{username}", account_page, methods=["GET"]),
    Route("/admin/users/{username}", update_account, methods=["POST"]),
    Route("/admin/users/{username}/password", change_password, methods=["POST"]),
    Route("/admin/users/{username}/disable", disable_account, methods=["POST"]),
    Route("/admin/users/{username}/enable", enable_account, methods=["POST"]),
]
