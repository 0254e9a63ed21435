"""The one way GroupSync sends e-mail: SMTP in production, files or the log in demo and test.

Every message ends with the operator's identity and contacts, so a recipient always knows
who wrote and how to reach them. Sending is synchronous and raises :class:`MailError` on a
failure, so the caller can record exactly which notifications went out.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from app.config import Operator, Settings

log = logging.getLogger(__name__)


class MailError(Exception):
    """A message could not be handed to the configured transport."""


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


def operator_footer(operator: Operator) -> str:
    return (
        "--\n"
        f"Sent by {operator.legal_name}, the operator of this GroupSync installation.\n"
        f"{operator.address}\n"
        f"Support: {operator.support_email}\n"
        f"Data protection: {operator.privacy_email}\n"
    )


def build(mail: Mail, settings: Settings) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail.sender
    message["To"] = mail.to
    message["Reply-To"] = settings.operator.support_email
    message["Subject"] = mail.subject
    message["Message-ID"] = make_msgid(domain="groupsync")
    message.set_content(mail.body.rstrip("\n") + "\n\n" + operator_footer(settings.operator))
    return message


def send(mail: Mail, settings: Settings) -> str:
    """Send one message; returns its Message-ID. Raises :class:`MailError` when it did not go out."""
    message = build(mail, settings)
    config = settings.mail
    message_id = str(message["Message-ID"])
    if config.transport == "file":
        directory = config.file_dir or settings.instance_path / "mail"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            name = message_id.strip("<>").replace("@", "_") + ".eml"
            (directory / name).write_bytes(bytes(message))
        except OSError as exc:
            raise MailError(f"cannot write mail to {directory}: {exc.strerror}") from exc
    elif config.transport == "console":
        log.info("mail to %s: %s\n%s", mail.to, mail.subject, message.get_content())
    else:
        _send_smtp(message, settings)
    return message_id


def _send_smtp(message: EmailMessage, settings: Settings) -> None:
    config = settings.mail
    try:
        with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=settings.http_timeout_seconds) as smtp:
            if config.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if config.smtp_username:
                smtp.login(config.smtp_username, config.smtp_password or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(
            f"SMTP server {config.smtp_host}:{config.smtp_port} refused the message: {exc}"
        ) from exc


def sent_files(directory: Path) -> list[Path]:
    """Messages the file transport wrote, oldest first (demo and tests read them)."""
    return sorted(directory.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns) if directory.is_dir() else []
