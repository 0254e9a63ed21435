"""google-api-python-client's JSON model with orjson: request and answer bodies of 200 contacts.

The library's :class:`~googleapiclient.model.JsonModel` encodes and decodes with the standard
library's ``json``; a sync run sends and reads bodies of 200 contacts at a time, where that is
a good part of its CPU time. This model is the same apart from the codec. Bodies go out as
UTF-8 bytes (non-ASCII characters unescaped, which JSON allows), so the ``Content-Length`` the
library sets from their length counts bytes.

Callers hand bodies over already encoded (:func:`encoded`): the library's generated methods
turn every argument that is not a ``str`` into one with ``str()`` before looking at its type,
which for a body of 200 contacts costs twenty times the encoding itself and is thrown away.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from googleapiclient.model import JsonModel


def encoded(body: dict[str, Any]) -> str:
    """A request body as JSON text, passed through :class:`OrjsonModel` as it is."""
    return orjson.dumps(body).decode("utf-8")


class OrjsonModel(JsonModel):  # type: ignore[misc]  # the library ships no type information
    """``known``, when given, returns an answer's body already parsed by the transport (or ``None``)."""

    def __init__(self, data_wrapper: bool = False, known: Callable[[bytes | str], Any] | None = None) -> None:
        super().__init__(data_wrapper)
        self._known = known

    def serialize(self, body_value: Any) -> bytes:
        if isinstance(body_value, str):
            # Encoded by the caller (:func:`encoded`); no JSON body GroupSync sends is a bare string.
            return body_value.encode("utf-8")
        if isinstance(body_value, dict) and "data" not in body_value and self._data_wrapper:
            body_value = {"data": body_value}
        return orjson.dumps(body_value)

    def deserialize(self, content: bytes | str) -> Any:
        body = self._known(content) if self._known is not None else None
        if body is None:
            try:
                body = orjson.loads(content)
            except orjson.JSONDecodeError:
                # As the library's model: an answer that is not JSON is handed on as its text.
                return content.decode("utf-8") if isinstance(content, bytes) else content
        if self._data_wrapper and isinstance(body, dict) and "data" in body:
            body = body["data"]
        return body
