from flask.testing import FlaskClient

from app.accounts.models import Role


def test_landing_page_offers_sign_in(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert b"Sign in with Google" in response.data
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_old_favicon_address_leads_to_the_icon(client: FlaskClient) -> None:
    answer = client.get("/favicon.ico", follow_redirects=True)
    assert answer.status_code == 200
    assert answer.mimetype == "image/svg+xml"


def test_dashboard_requires_sign_in(client: FlaskClient) -> None:
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert "/sign-in" in response.headers["Location"]


def test_dashboard_shows_account_and_role(factory, signed_in) -> None:  # type: ignore[no-untyped-def]
    membership = factory.member(factory.account("Acme"), Role.ADMIN)
    response = signed_in(membership).get("/dashboard")
    assert response.status_code == 200
    assert b"Acme" in response.data
    assert b"admin" in response.data
