"""Error messages that views show to a person are marked for translation where they are raised.

A view that catches an exception and hands it (or ``str()`` of it) to anything, typically
``flash``, shows its message to the reader. The message must then come from a gettext call or
carry an ``N_`` message id: a plain string or f-string with words in it at the ``raise`` would be
shown in English to every reader (the age refusal at sign-in once was). Texts assembled before
the raise (a list joined, a variable) are not seen by this check; the tests of each page that
read it in Ukrainian and Russian cover those.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"


def _names(node: ast.expr | None) -> list[str]:
    if isinstance(node, ast.Tuple):
        return [name for element in node.elts for name in _names(element)]
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    return []


def _is_the_exception(arg: ast.expr, name: str) -> bool:
    if isinstance(arg, ast.Name):
        return arg.id == name
    return (
        isinstance(arg, ast.Call)
        and _names(arg.func) == ["str"]
        and len(arg.args) == 1
        and _is_the_exception(arg.args[0], name)
    )


def _arguments(call: ast.Call) -> Iterator[ast.expr]:
    yield from call.args
    yield from (keyword.value for keyword in call.keywords)


def shown_exceptions(views: Mapping[str, str]) -> set[str]:
    """Names of the exception classes whose message a view passes on (to ``flash`` or a helper)."""
    shown: set[str] = set()
    for source in views.values():
        for handler in ast.walk(ast.parse(source)):
            if not isinstance(handler, ast.ExceptHandler) or handler.name is None:
                continue
            body = ast.Module(body=handler.body, type_ignores=[])
            if any(
                isinstance(call, ast.Call)
                and any(_is_the_exception(a, handler.name) for a in _arguments(call))
                for call in ast.walk(body)
            ):
                shown.update(_names(handler.type))
    return shown


def _has_words(arg: ast.expr) -> bool:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        # A single token ("email", "member") names a field; a phrase is a message.
        return " " in arg.value.strip()
    if isinstance(arg, ast.JoinedStr):
        return any(
            isinstance(part, ast.Constant) and any(c.isalpha() for c in str(part.value))
            for part in arg.values
        )
    return False


def unmarked_raises(sources: Mapping[str, str], shown: set[str]) -> list[str]:
    """``path:line`` of every ``raise Shown("literal words")`` in ``sources``."""
    found = []
    for path, source in sources.items():
        for node in ast.walk(ast.parse(source)):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            if set(_names(node.exc.func)) & shown and any(_has_words(a) for a in _arguments(node.exc)):
                found.append(f"{path}:{node.lineno}")
    return found


def _sources(pattern: str) -> dict[str, str]:
    return {
        str(path.relative_to(APP.parent)): path.read_text(encoding="utf-8") for path in APP.rglob(pattern)
    }


def test_messages_views_show_are_marked_for_translation_where_they_are_raised() -> None:
    shown = shown_exceptions(_sources("views.py"))
    # The check must look at the exceptions views really show, or it would pass on nothing.
    assert {"SignInError", "SecurityError", "MembershipError", "WorkspaceError"} <= shown
    assert unmarked_raises(_sources("*.py"), shown) == []


def test_the_check_finds_an_unmarked_message_and_passes_a_marked_one() -> None:
    views = {
        "views.py": (
            "def page():\n"
            "    try:\n"
            "        act()\n"
            "    except services.OopsError as exc:\n"
            "        flash(str(exc), 'error')\n"
            "    except QuietError:\n"
            "        pass\n"
        )
    }
    services = {
        "services.py": (
            "def act():\n"
            "    raise OopsError('Something went wrong.')\n"
            "def act2(name):\n"
            "    raise OopsError(f'{name} is not allowed')\n"
            "def act3():\n"
            "    raise OopsError(_('Something went wrong.'))\n"
            "def act4():\n"
            "    raise OopsError('email', _('E-mail address is not valid.'))\n"
            "def act5():\n"
            "    raise QuietError('Never shown to anyone.')\n"
        )
    }
    shown = shown_exceptions(views)
    assert shown == {"OopsError"}
    assert unmarked_raises(services, shown) == ["services.py:2", "services.py:4"]
