from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import Mode, Settings
from app.mail import Mail, Mailer, MailError, sent_files


class _Received(list[bytes]):
    """Messages the server received; ``commands`` holds every command line it was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.commands: list[str] = []


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib to hand over one message."""

    received: list[bytes]

    def _say(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        self._say("220 test ready")
        while line := self.rfile.readline():
            verb = line.decode().strip().split(" ")[0].upper()
            self.server.received.commands.append(line.decode().strip())  # type: ignore[attr-defined]
            if verb in {"EHLO", "HELO"}:
                self._say("250-test")
                self._say("250 AUTH PLAIN")
            elif verb == "AUTH":
                self._say("235 accepted")
            elif verb == "DATA":
                self._say("354 go ahead")
                body = b""
                while (chunk := self.rfile.readline()) != b".\r\n":
                    body += chunk
                self.server.received.append(body)  # type: ignore[attr-defined]
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 ok")


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, list[bytes]]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.received = _Received()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], server.received  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def _settings(tmp_path: Path, transport: str) -> Settings:
    base = Settings.from_env({"GROUPSYNC_ENV": "test"}, instance_path=tmp_path)
    assert base.mode is Mode.TEST
    return base.with_overrides(mail_transport=transport, mail_smtp_starttls=False, http_timeout_seconds=5.0)


def test_file_transport_writes_the_message_with_the_operator_footer(tmp_path: Path) -> None:
    settings = _settings(tmp_path, f"file:{tmp_path / 'out'}")
    message_id = Mailer.for_settings(settings).send(Mail("alice@example.com", "Hello", "Body line."))
    (written,) = sent_files(tmp_path / "out")
    text = written.as_string()
    assert message_id in text
    assert "To: alice@example.com" in text
    assert "Subject: Hello" in text
    assert "Body line." in text
    operator = settings.operator
    assert f"Sent by {operator.legal_name}" in text
    assert operator.address in text
    assert operator.support_email in text
    assert operator.privacy_email in text
    assert f"Reply-To: {operator.support_email}" in text


def test_smtp_transport_hands_the_message_to_the_server(
    tmp_path: Path, smtp_server: tuple[int, list[bytes]]
) -> None:
    port, received = smtp_server
    settings = _settings(tmp_path, f"smtp://127.0.0.1:{port}")
    Mailer.for_settings(settings).send(Mail("bob@example.com", "Notice", "Read this."))
    (body,) = received
    assert b"To: bob@example.com" in body
    assert b"Read this." in body
    assert settings.operator.privacy_email.encode() in body


def test_smtp_failure_is_a_mail_error_naming_the_server(tmp_path: Path) -> None:
    closed = socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    port = closed.server_address[1]
    closed.server_close()
    settings = _settings(tmp_path, f"smtp://127.0.0.1:{port}")
    with pytest.raises(MailError, match=f"mail transport smtp://127.0.0.1:{port} failed"):
        Mailer.for_settings(settings).send(Mail("bob@example.com", "Notice", "Read this."))


def test_smtp_login_is_used_when_set_and_the_password_is_not_in_the_settings_repr(
    tmp_path: Path, smtp_server: tuple[int, list[bytes]]
) -> None:
    import base64

    port, received = smtp_server
    settings = _settings(tmp_path, f"smtp://127.0.0.1:{port}").with_overrides(
        mail_smtp_username="groupsync", mail_smtp_password="relay-pass"
    )
    Mailer.for_settings(settings).send(Mail("bob@example.com", "Notice", "Read this."))
    (body,) = received
    assert b"To: bob@example.com" in body
    assert "relay-pass" not in repr(settings)
    assert isinstance(received, _Received)
    (auth,) = [c for c in received.commands if c.upper().startswith("AUTH")]
    assert base64.b64decode(auth.split()[-1]) == b"\0groupsync\0relay-pass"
