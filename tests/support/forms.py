"""Reading a page's CSRF token and signing in over plain HTTP, as a browser would."""

from __future__ import annotations

import re

import httpx

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(page: httpx.Response) -> str:
    match = _CSRF.search(page.text)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(
    client: httpx.Client, username: str, password: str, next_path: str = ""
) -> httpx.Response:
    page = client.get("/signin")
    return client.post(
        "/signin",
        data={
            "csrf_token": csrf_token(page),
            "username": username,
            "password": password,
            "next": next_path,
        },
    )
