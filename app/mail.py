"""The one way GroupSync sends e-mail, through the transport the operator configured.

``GROUPSYNC_MAIL_TRANSPORT``: ``console`` writes each message to the log (demo, development),
``file:<dir>`` writes one ``.eml`` file per message (tests, a demo that wants to show them),
``smtp://host:port`` hands it to an SMTP relay (production; the relay does TLS and auth).
"""

from __future__ import annotations

import logging
import smtplib
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from app.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


class MailError(Exception):
    """The message could not be handed to the transport."""


class Mailer:
    def __init__(self, transport: str, sender: str, timeout: float = 30.0) -> None:
        self._transport = transport
        self._sender = sender
        self._timeout = timeout

    @classmethod
    def for_settings(cls, settings: Settings) -> Mailer:
        return cls(settings.mail_transport, settings.mail_from, settings.http_timeout_seconds)

    def send(self, mail: Mail) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Message-ID"] = f"<{uuid.uuid4().hex}@groupsync>"
        message.set_content(mail.body)
        try:
            if self._transport == "console":
                log.info("mail to a user: %s", mail.subject, extra={"mail_body": mail.body})
            elif self._transport.startswith("file:"):
                folder = Path(self._transport.removeprefix("file:"))
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{uuid.uuid4().hex}.eml").write_bytes(bytes(message))
            else:
                host, _, port = self._transport.removeprefix("smtp://").rpartition(":")
                with smtplib.SMTP(host, int(port), timeout=self._timeout) as smtp:
                    smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"mail transport {self._transport.split(':', 1)[0]} failed: {exc}") from exc


def sent_files(folder: Path) -> list[EmailMessage]:
    """Messages a ``file:`` transport wrote, oldest first (tests and the demo read them)."""
    from email import policy
    from email.parser import BytesParser

    parser = BytesParser(policy=policy.default)
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    return [parser.parsebytes(path.read_bytes()) for path in files]
