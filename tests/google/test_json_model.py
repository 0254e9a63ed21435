"""The People client's JSON model: orjson in, orjson out, as the library's model otherwise."""

from __future__ import annotations

import json

from googleapiclient.model import JsonModel

from app.google.json_model import OrjsonModel, encoded


def test_bodies_are_utf8_json_the_librarys_model_reads_alike() -> None:
    body = {"contacts": [{"contactPerson": {"names": [{"givenName": "Олена", "familyName": "Zoë"}]}}]}
    sent = OrjsonModel().serialize(body)
    assert isinstance(sent, bytes)
    assert "Олена".encode() in sent, "non-ASCII text goes as UTF-8, so Content-Length counts bytes"
    assert json.loads(sent) == body
    assert OrjsonModel().deserialize(sent) == JsonModel().deserialize(sent) == body


def test_a_body_encoded_by_the_caller_goes_out_as_the_same_bytes() -> None:
    body = {"contacts": [{"contactPerson": {"names": [{"givenName": "Олена"}]}}], "readMask": "metadata"}
    assert OrjsonModel().serialize(encoded(body)) == OrjsonModel().serialize(body)


def test_an_answer_that_is_not_json_is_handed_on_as_text() -> None:
    assert OrjsonModel().deserialize(b"<html>Bad gateway</html>") == "<html>Bad gateway</html>"
    assert OrjsonModel().deserialize("not json") == "not json"


def test_the_data_wrapper_is_kept() -> None:
    wrapped = OrjsonModel(data_wrapper=True)
    assert json.loads(wrapped.serialize({"a": 1})) == {"data": {"a": 1}}
    assert wrapped.deserialize(b'{"data": {"a": 1}}') == {"a": 1}


def test_an_answer_the_transport_already_parsed_is_not_parsed_again() -> None:
    parsed_by_transport = {"responses": [{"person": {"resourceName": "people/c1"}}]}
    content = b'{"responses": []}'
    model = OrjsonModel(known=lambda given: parsed_by_transport if given is content else None)
    assert model.deserialize(content) is parsed_by_transport
    assert model.deserialize(b'{"responses": [ ]}') == {"responses": []}, "other bytes are parsed"
