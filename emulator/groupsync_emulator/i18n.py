"""The sign-in pages in the reader's language: ``hl`` (as Google has it), else Accept-Language, else English.

The catalogues ship as ``.po`` beside this module and are compiled when the emulator starts, the
same way GroupSync compiles its own.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Flask, has_request_context, request
from flask_babel import Babel

from app.web.i18n import LANGUAGES, compile_catalogues

SOURCE_DIR = Path(__file__).resolve().parent / "translations"


def select_locale() -> str:
    if not has_request_context():
        return "en"
    asked = request.args.get("hl", "").split("-")[0].lower()
    if asked in LANGUAGES:
        return asked
    return request.accept_languages.best_match(list(LANGUAGES), default="en") or "en"


def init_app(app: Flask) -> None:
    # The emulator has no instance folder of its own; compiled catalogues go to the temp directory.
    compiled = Path(tempfile.gettempdir()) / "groupsync-emulator-translations"
    compile_catalogues(SOURCE_DIR, compiled)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compiled)
    Babel(app, locale_selector=select_locale)
    app.jinja_env.policies["ext.i18n.trimmed"] = True

    @app.context_processor
    def language() -> dict[str, str]:
        return {"language": select_locale()}
