"""The scripts' translations and the chat page's framing rules, from a real server."""

from __future__ import annotations

import httpx

from tests.support.server import ServerProcess


def test_scripts_get_the_same_catalogue_as_the_templates(server: ServerProcess) -> None:
    nynorsk = httpx.get(server.url + "/i18n/nn.json")
    assert nynorsk.status_code == 200
    body = nynorsk.json()
    assert body["locale"] == "nn"
    assert body["messages"]["Chat with a counsellor"] != "Chat with a counsellor"
    assert "max-age" in nynorsk.headers["cache-control"]
    unknown = httpx.get(server.url + "/i18n/de.json")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_locale"


def test_only_the_chat_page_may_be_framed_and_only_by_itself_and_the_widget_hosts(
    server: ServerProcess,
) -> None:
    chat = httpx.get(server.url + "/chat")
    assert "frame-ancestors 'self'" in chat.headers["content-security-policy"]
    assert "x-frame-options" not in chat.headers
    landing = httpx.get(server.url + "/")
    assert "frame-ancestors 'none'" in landing.headers["content-security-policy"]
    assert landing.headers["x-frame-options"] == "DENY"
