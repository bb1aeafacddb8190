"""Renders the Jinja2 pages in a given locale, always with autoescaping."""

from __future__ import annotations

from typing import Any

import jinja2

from web.i18n import LOCALE_NAMES, LOCALES, translations


class PageRenderer:
    """One Jinja2 environment per locale, so gettext is bound once, not per request."""

    def __init__(self) -> None:
        loader = jinja2.PackageLoader("web", "templates")
        self._environments: dict[str, jinja2.Environment] = {}
        for locale in LOCALES:
            env = jinja2.Environment(
                loader=loader,
                autoescape=True,
                undefined=jinja2.StrictUndefined,
                extensions=["jinja2.ext.i18n"],
            )
            env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
            env.globals["locale_names"] = LOCALE_NAMES
            self._environments[locale] = env

    def render(self, template: str, locale: str, context: dict[str, Any]) -> str:
        return self._environments[locale].get_template(template).render(locale=locale, **context)
