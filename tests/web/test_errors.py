"""Error pages are drawn inside the app shell, in the reader's language, with a way back; /api/ stays JSON."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask.testing import FlaskClient

from app import create_app
from app.accounts.models import Membership, Role
from tests.conftest import make_settings


def test_an_unknown_page_is_a_styled_404_with_a_way_back(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert 'data-testid="error-page"' in page
    assert "Page not found" in page
    assert 'href="/"' in page
    assert "app.css" in page


def test_a_wrong_role_gets_a_403_inside_its_own_navigation(
    factory: object, signed_in: Callable[[Membership], FlaskClient]
) -> None:
    reviewer = factory.member(factory.account("Acme"), Role.REVIEWER)  # type: ignore[attr-defined]
    response = signed_in(reviewer).get("/admin/crm", headers={"Accept-Language": "ru"})
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "Эта страница не для вашей роли" in page
    assert 'data-testid="main-nav"' in page
    assert 'data-testid="error-home"' in page
    assert 'href="/ledger"' in page  # the reviewer's own navigation, not the admin's
    assert 'href="/admin/crm"' not in page.split('data-testid="main-nav"')[1].split("</nav>")[0]


def test_a_wrong_method_is_a_styled_405(client: FlaskClient) -> None:
    response = client.put("/", headers={"Accept-Language": "uk"})
    assert response.status_code == 405
    assert "Ця дія тут недоступна" in response.get_data(as_text=True)


def test_api_errors_stay_json(client: FlaskClient) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.is_json


def test_a_missing_csrf_token_is_explained_in_the_shell(client: FlaskClient) -> None:
    response = client.post("/sign-in", data={"next": "/"}, headers={"Accept-Language": "uk"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Термін дії форми минув" in page
    assert "CSRF" in page


def test_every_page_links_the_favicon_and_logo(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert 'rel="icon" href="/static/favicon.svg"' in page
    assert client.get("/static/favicon.svg").status_code == 200
    assert client.get("/static/logo.svg").status_code == 200


def test_a_server_error_is_a_styled_500_without_touching_the_database(tmp_path: Path) -> None:
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path))
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    @app.get("/api/boom")
    def api_boom() -> str:
        raise RuntimeError("boom")

    client = app.test_client()
    response = client.get("/boom", headers={"Accept-Language": "ru"})
    assert response.status_code == 500
    assert "Что-то пошло не так на нашей стороне" in response.get_data(as_text=True)
    api = client.get("/api/boom")
    assert api.status_code == 500
    assert api.is_json
