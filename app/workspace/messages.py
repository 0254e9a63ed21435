"""What each of Google's answers means for a Workspace domain connection, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass

from app.extensions import LazyText
from app.extensions import lazy_gettext as _l
from app.google.domain_models import DomainProblem


@dataclass(frozen=True)
class Problem:
    what: LazyText | str
    fix: LazyText | str


PROBLEMS: dict[DomainProblem, Problem] = {
    DomainProblem.NONE: Problem(_l("The connection works."), ""),
    DomainProblem.DELEGATION_MISSING: Problem(
        _l(
            "Google answered unauthorized_client: domain-wide delegation is not set up for this service "
            "account, or it does not include the contacts scope."
        ),
        _l(
            "In the Admin console open Security → Access and data control → API controls → Manage "
            "domain-wide delegation, add the client ID shown on this page with exactly the scope shown, "
            "save, and test again (Google can take a few minutes to apply it)."
        ),
    ),
    DomainProblem.APP_UNINSTALLED: Problem(
        _l(
            "Google answered unauthorized_client: GroupSync's Marketplace app is not installed for the "
            "domain any more, or its contacts scope was not granted."
        ),
        _l(
            "In the Admin console open Apps → Google Workspace Marketplace apps, install GroupSync for "
            "the whole domain (or grant its data access again), then test again."
        ),
    ),
    DomainProblem.USER_NOT_IN_DOMAIN: Problem(
        _l(
            "Google answered invalid_grant: the address is not a user of the domain, "
            "or the user is suspended."
        ),
        _l(
            "Check the address in the Admin console (Directory → Users); restore a suspended user, or "
            "remove the user's assignments here."
        ),
    ),
    DomainProblem.USER_DELETED: Problem(
        _l("Google answered invalid_grant: the user has been deleted from the domain."),
        _l("Remove the user's assignments here; their syncs have stopped and nothing was deleted."),
    ),
    DomainProblem.KEY_REJECTED: Problem(
        _l(
            "Google answered invalid_grant: it does not accept the key's signature. The key has been "
            "disabled or deleted in the Cloud console, or belongs to another service account."
        ),
        _l(
            "Create a new JSON key for the service account in the Cloud console (IAM & Admin → Service "
            "accounts → Keys), upload it here, and test again.",
        ),
    ),
    DomainProblem.SERVICE_ACCOUNT_GONE: Problem(
        _l("Google answered invalid_grant (account not found): the service account is disabled or deleted."),
        _l(
            "Enable the service account again in the Cloud console, or create a new one with domain-wide "
            "delegation, upload its key here, and test again."
        ),
    ),
    DomainProblem.SCOPE_REFUSED: Problem(
        _l("Google answered invalid_scope: it refused the contacts scope."),
        _l("Check that the People API is enabled in the service account's Cloud project, then test again."),
    ),
    DomainProblem.CLOCK_WRONG: Problem(
        _l(
            "Google answered invalid_grant: the signed request is outside the time Google accepts "
            "(the server's clock is off)."
        ),
        _l("Nothing needs fixing on your side; the operator has to correct the server's clock."),
    ),
    DomainProblem.PEOPLE_DENIED: Problem(
        _l("Google issued a token, but the People API refused the harmless test request."),
        _l(
            "Enable the People API in the service account's Cloud project, wait a few minutes and test again."
        ),
    ),
    DomainProblem.TOKEN_ENDPOINT_DOWN: Problem(
        _l("Google's token endpoint did not answer."),
        _l("Nothing needs fixing on your side; test again in a few minutes."),
    ),
    DomainProblem.NO_KEY: Problem(
        _l("No key is stored for the service account."), _l("Upload the service account's JSON key file.")
    ),
    DomainProblem.KEY_UNREADABLE: Problem(
        _l("The stored key can no longer be decrypted (the installation's encryption key changed)."),
        _l("Upload the key file again; the operator has been alerted."),
    ),
    DomainProblem.NOT_CONFIGURED: Problem(
        _l("This installation has no service account configured."),
        _l("Ask the operator, or switch to your own service account and upload its key."),
    ),
}
