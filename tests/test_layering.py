"""Lower layers never import upper ones: the import arrows between app's packages that run back up.

The layer order, bottom to top, is :data:`LAYERS` (README, "Architecture", says the same). A
package's entry modules (``views``, ``cli``, ``api``) belong to the top layer whatever their
package, since they only translate HTTP or a command line into calls downward. Every
``import`` counts, including those inside functions and under ``TYPE_CHECKING``: a lazy import
is still a dependency. Run ``python -m tests.test_layering`` to list the arrows.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"

LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"config_values"}),
    frozenset({"config", "db", "natural_order"}),
    frozenset({"extensions", "logs", "ops", "mail"}),
    frozenset({"address_reasons"}),
    frozenset({"accounts"}),
    frozenset({"ledger"}),
    frozenset({"contact_fields"}),
    frozenset({"privacy"}),
    frozenset({"google", "crm"}),
    frozenset({"sync", "auth", "security"}),
    frozenset({"flows", "workspace", "subject_requests"}),
    frozenset({"entry", "worker", "web", "app", "cli", "cli_registry", "models", "web_security"}),
)
"""Bottom first. ``entry`` stands for every package's views, CLI and HTTP API modules."""

ENTRY_MODULES = frozenset({"views", "cli", "api"})

KNOWN_BACK_ARROWS = frozenset(
    {
        # Evidence packs carry the disclosure and privacy-policy texts that were in force.
        ("ledger", "privacy"),
        # A CRM change makes the list's syncs due (app/crm/services.py, owned by the CRM split).
        ("crm", "sync"),
    }
)
"""The back-running arrows that remain. A new one fails the test; remove an entry once it is gone."""


def _layer_of(node: str) -> int:
    for index, members in enumerate(LAYERS):
        if node in members:
            return index
    raise AssertionError(f"app.{node} is in no layer: add it to LAYERS (and to README's architecture)")


def _node(module: str) -> str | None:
    """``app.google.views`` → ``entry``; ``app.google.people`` → ``google``; ``app`` → ``app``."""
    parts = module.split(".")
    if parts[0] != "app":
        return None
    if len(parts) == 1:
        return "app"
    if parts[1] == "migrations":
        return None
    if len(parts) >= 3 and parts[2] in ENTRY_MODULES:
        return "entry"
    return parts[1]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(APP.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from app.google import services`` imports the module app.google.services.
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _resolve(name: str) -> str:
    """The module a name belongs to: ``app.google.services.disconnect`` → ``app.google.services``."""
    parts = name.split(".")
    while len(parts) > 1:
        candidate = APP.parent.joinpath(*parts)
        if candidate.is_dir() or candidate.with_suffix(".py").is_file():
            return ".".join(parts)
        parts.pop()
    return parts[0]


def arrows() -> set[tuple[str, str]]:
    """Every (importing node, imported node) pair between different nodes of app."""
    found: set[tuple[str, str]] = set()
    for path in sorted(APP.rglob("*.py")):
        source = _node(_module_name(path))
        if source is None:
            continue
        for name in _imported(ast.parse(path.read_text(encoding="utf-8"))):
            target = _node(_resolve(name))
            if target is not None and target != source:
                found.add((source, target))
    return found


def back_arrows(found: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The arrows that run upward, from a lower layer to a higher one, or sideways within a layer."""
    return {
        (source, target)
        for source, target in found
        if _layer_of(target) > _layer_of(source)
        or (_layer_of(target) == _layer_of(source) and _layer_of(source) != len(LAYERS) - 1)
    }


def test_every_package_of_app_has_a_layer() -> None:
    for source, target in arrows():
        _layer_of(source)
        _layer_of(target)


def test_no_import_runs_back_up_the_layers_beyond_the_known_ones() -> None:
    found = arrows()
    back = back_arrows(found)
    new = sorted(back - KNOWN_BACK_ARROWS)
    assert not new, f"lower layers import upper ones: {new}; call them from app/flows or move the code down"
    assert len(back) <= len(KNOWN_BACK_ARROWS) < 5


def test_the_counter_sees_an_upward_import() -> None:
    assert back_arrows({("google", "flows"), ("flows", "google"), ("crm", "google")}) == {
        ("google", "flows"),
        ("crm", "google"),
    }
    assert ("entry", "flows") in arrows(), "views and commands call the flows"


if __name__ == "__main__":
    everything = arrows()
    upward = back_arrows(everything)
    for index, members in reversed(list(enumerate(LAYERS))):
        print(f"layer {index}: {', '.join(sorted(members))}")
    print(f"{len(everything)} arrows between app's packages, {len(upward)} running back up:")
    for source, target in sorted(upward):
        print(f"  {source} -> {target}")
