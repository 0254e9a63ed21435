"""POST-redirect-GET: every browser POST that succeeds answers with a redirect, never with a page.

So reloading the page after an action, or going Back to it, never sends the action again; the
result is shown after the redirect (a flash message, or a result page with its own GET URL such
as the import report or the deletion receipt). The routes come from the route matrix, so a new
POST route is walked here by itself.
"""

from __future__ import annotations

import pytest
from flask import Flask

from app.accounts.models import Role
from tests.auth.flows import csrf_token
from tests.test_route_matrix import BROWSER_ROUTES, Route, World, fill_url, make_world

PAGE_AFTER_POST = {
    "crm.create_api_key": "shows the new key's secret exactly once; the form's one-time token makes a resend "
    "create nothing",
    "security.enrol_start": "shows the authenticator secret and QR code once, never stored in a GET page",
    "security.enrol_confirm": "shows the recovery codes once",
    "security.renew_codes": "shows the new recovery codes once",
}
"""Justified exceptions: pages that must show a secret once, so a GET URL would have to keep it."""

FORMS = {
    "web.save_settings": {"language": "uk", "time_zone": "Europe/Kyiv"},
    "crm.create_list": {"name": "Fresh list"},
    "crm.rename_list": {"name": "Renamed list"},
    "crm.save_settings": {"region": "UA"},
    "accounts.invite": {"email": "new.person@own.example.com", "role": "member"},
    "accounts.change_role": {"role": "reviewer"},
    "privacy.update_my_profile": {"name": "Own Person", "notice_email": ""},
    "privacy.restrict_processing": {"restrict": "on"},
}
"""What a successful submission of the form sends, beyond the CSRF token and ``confirmed=yes``."""

POSTS = [r for r in BROWSER_ROUTES if r.method == "POST"]


@pytest.fixture
def world(app: Flask) -> World:
    return make_world(app)


def _is_page(response: object) -> bool:
    return getattr(response, "status_code", 0) == 200 and getattr(response, "mimetype", "") == "text/html"


@pytest.mark.parametrize("route", POSTS, ids=str)
def test_a_browser_post_answers_with_a_redirect(route: Route, app: Flask, world: World) -> None:
    view = app.view_functions[route.endpoint]
    role = next(r for r in (Role.ADMIN, Role.MEMBER, Role.REVIEWER) if r in view.required_roles)
    client = world.clients[role]
    data = {
        "csrf_token": csrf_token(client, "/dashboard"),
        "confirmed": "yes",
        **FORMS.get(route.endpoint, {}),
    }

    response = client.post(fill_url(route, world.own, "own"), data=data)

    if route.endpoint in PAGE_AFTER_POST:
        return
    assert not _is_page(response), (
        f"{route} ({route.endpoint}) answered a POST with a 200 page: redirect to a GET URL instead, or "
        "list it in PAGE_AFTER_POST with the reason"
    )
    if response.status_code < 400 and response.mimetype == "text/html":
        assert response.status_code in {302, 303}, f"{route} answered {response.status_code}"


def test_the_exceptions_are_real_routes() -> None:
    assert set(PAGE_AFTER_POST) <= {r.endpoint for r in POSTS}
    assert set(FORMS) <= {r.endpoint for r in POSTS}
