"""The one way GroupSync sends e-mail, through the transport the operator configured.

``GROUPSYNC_MAIL_TRANSPORT``: ``console`` writes each message to the log (demo, development),
``file:<dir>`` writes one ``.eml`` file per message (tests, a demo that wants to show them),
``smtp://host:port`` hands it to an SMTP relay (production), with STARTTLS and a login when set.

Every message ends with the operator's identity and contacts, so a recipient always knows who
wrote and how to reach them. Sending is synchronous and raises :class:`MailError` on a failure,
so the caller can record exactly which notices went out.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from app.config import DEMO_OPERATOR, Operator, Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


class MailError(Exception):
    """The message could not be handed to the transport."""


@dataclass(frozen=True)
class SmtpLogin:
    username: str
    password: str


def operator_footer(operator: Operator) -> str:
    return (
        "--\n"
        f"Sent by {operator.legal_name}, the operator of this GroupSync installation.\n"
        f"{operator.address}\n"
        f"Support: {operator.support_email}\n"
        f"Data protection: {operator.privacy_email}\n"
    )


class Mailer:
    def __init__(
        self,
        transport: str,
        sender: str,
        timeout: float = 30.0,
        *,
        operator: Operator = DEMO_OPERATOR,
        starttls: bool = True,
        login: SmtpLogin | None = None,
    ) -> None:
        self._transport = transport
        self._sender = sender
        self._timeout = timeout
        self._operator = operator
        self._starttls = starttls
        self._login = login

    @classmethod
    def for_settings(cls, settings: Settings) -> Mailer:
        login = (
            SmtpLogin(settings.mail_smtp_username, settings.mail_smtp_password or "")
            if settings.mail_smtp_username
            else None
        )
        return cls(
            settings.mail_transport,
            settings.mail_from,
            settings.http_timeout_seconds,
            operator=settings.operator,
            starttls=settings.mail_smtp_starttls,
            login=login,
        )

    def build(self, mail: Mail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = mail.to
        message["Reply-To"] = self._operator.support_email
        message["Subject"] = mail.subject
        message["Message-ID"] = make_msgid(domain="groupsync")
        message.set_content(mail.body.rstrip("\n") + "\n\n" + operator_footer(self._operator))
        return message

    def send(self, mail: Mail) -> str:
        """Send one message; returns its Message-ID. Raises :class:`MailError` when it did not go out."""
        message = self.build(mail)
        message_id = str(message["Message-ID"])
        kind = self._transport.split(":", 1)[0]
        try:
            if self._transport == "console":
                log.info("mail to a user: %s", mail.subject, extra={"mail_body": message.get_content()})
            elif self._transport.startswith("file:"):
                folder = Path(self._transport.removeprefix("file:"))
                folder.mkdir(parents=True, exist_ok=True)
                name = message_id.strip("<>").replace("@", "_") + ".eml"
                (folder / name).write_bytes(bytes(message))
            else:
                self._send_smtp(message)
        except (OSError, smtplib.SMTPException) as exc:
            where = self._transport if kind == "smtp" else kind
            raise MailError(f"mail transport {where} failed: {exc}") from exc
        return message_id

    def _send_smtp(self, message: EmailMessage) -> None:
        host, _, port = self._transport.removeprefix("smtp://").rpartition(":")
        with smtplib.SMTP(host, int(port), timeout=self._timeout) as smtp:
            if self._starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self._login is not None:
                smtp.login(self._login.username, self._login.password)
            smtp.send_message(message)


def sent_files(folder: Path) -> list[EmailMessage]:
    """Messages a ``file:`` transport wrote, oldest first (tests and the demo read them)."""
    from email import policy
    from email.parser import BytesParser

    if not folder.is_dir():
        return []
    parser = BytesParser(policy=policy.default)
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    return [parser.parsebytes(path.read_bytes()) for path in files]
