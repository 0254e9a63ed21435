"""Typed failures of the People API client layer (:mod:`app.google.people`).

Callers branch on the type, never on an HTTP status: each type names one situation the sync
engine handles differently (adopt on the next run, re-read, stop and ask for a reconnect, ...).
"""

from __future__ import annotations

from collections.abc import Iterable


class PeopleError(Exception):
    """Base of every failure the layer raises; ``method`` is the People API method concerned."""

    def __init__(self, method: str, message: str) -> None:
        self.method = method
        super().__init__(f"{method}: {message}")


class ScopeViolationError(PeopleError):
    """Refused before any request was sent: the call would touch a contact or group outside the scope.

    A contact is in scope only when this client saw, in a Google response during its own
    life, that the contact is a member of the scoped group AND carries the scope's marker
    clientData. ``resource_names`` lists the refused names.
    """

    def __init__(self, method: str, message: str, resource_names: Iterable[str] = ()) -> None:
        self.resource_names = tuple(resource_names)
        super().__init__(method, message)


class GroupNameTakenError(PeopleError):
    """contactGroups.create answered 409: the user already has a group with that name; pick a suffix."""


class GroupDeletedError(PeopleError):
    """The scoped group no longer exists in Google (the user deleted it)."""


class AmbiguousWriteError(PeopleError):
    """A mutation may or may not have been applied (5xx, timeout or dropped connection).

    Nothing is retried automatically in that case for creates: the caller adopts what was
    created (found by its clientData tag inside the group) on the next run.
    ``resource_names`` is empty for creates.
    """

    def __init__(self, method: str, message: str, resource_names: Iterable[str] = ()) -> None:
        self.resource_names = tuple(resource_names)
        super().__init__(method, message)


class StaleEtagError(PeopleError):
    """An update carried an etag that is no longer current (the contact changed since it was read)."""


class SyncTokenExpiredError(PeopleError):
    """connections.list answered EXPIRED_SYNC_TOKEN: a full listing is needed."""


class NeedsReconnectError(PeopleError):
    """The credentials are dead (401 after a refresh, or ``invalid_grant``): the user must reconnect."""


class PermissionDeniedError(PeopleError):
    """403 that is not a quota: e.g. the contacts scope was not granted (ACCESS_TOKEN_SCOPE_INSUFFICIENT)."""


class QuotaExceededError(PeopleError):
    """Google kept answering 429 (or a quota 403) after every retry; nothing was applied."""


class ContactLimitReachedError(PeopleError):
    """The Google account holds the maximum number of contacts (25,000); nothing was created."""


class GoogleUnavailableError(PeopleError):
    """A read kept failing with 5xx, timeouts or dropped connections after every retry."""


class RequestRejectedError(PeopleError):
    """Google rejected the request as malformed (4xx not covered above); ``status`` is the HTTP status."""

    def __init__(self, method: str, message: str, status: int) -> None:
        self.status = status
        super().__init__(method, message)
