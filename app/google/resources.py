"""google-api-python-client's People API resources, built once per process and API endpoint.

The library generates every method of a resource, docstring included (each schema
pretty-printed), when the resource is built: 15 to 20 ms of CPU, which each sync run paid again.
A resource only *makes* requests. Every request is executed over the run's own authorized
HTTP (``HttpRequest.execute(http=...)``: the run's credentials, transport, pacing and ledger)
and parsed by the run's own model (:class:`~app.google.transport.PeopleSender`), so nothing
of one run reaches another; the resources are built over an HTTP that refuses to send.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, NoReturn

from googleapiclient.discovery import build

from app.google.json_model import OrjsonModel


class _Unbound:
    """The HTTP the shared resources are built with: a request not given a run's HTTP fails loudly."""

    def request(self, *_: Any, **__: Any) -> NoReturn:
        raise RuntimeError("a People API request must be executed over a sync run's own HTTP")


@dataclass(frozen=True)
class PeopleResources:
    people: Any
    groups: Any
    members: Any


_built: dict[str, PeopleResources] = {}
_lock = threading.Lock()


def people_resources(api_endpoint: str) -> PeopleResources:
    with _lock:
        found = _built.get(api_endpoint)
        if found is None:
            service = build(
                "people",
                "v1",
                http=_Unbound(),
                client_options={"api_endpoint": api_endpoint},
                static_discovery=True,
                cache_discovery=False,
                model=OrjsonModel(),
            )
            groups = service.contactGroups()
            found = PeopleResources(service.people(), groups, groups.members())
            _built[api_endpoint] = found
        return found
