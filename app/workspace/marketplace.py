"""What the Google Workspace Marketplace listing says, filled in from the operator's settings.

``groupsync marketplace listing`` prints it as JSON for pasting into the Marketplace SDK's
"Store listing" page; docs/marketplace.md explains each field. The scopes are the ones the
OAuth consent screen and scopes.md list (a test checks all three agree).
"""

from __future__ import annotations

from typing import Any

from app.config import Settings
from app.google.endpoints import CONTACTS_SCOPE

SCOPES = (
    "openid",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
    CONTACTS_SCOPE,
)
"""The Marketplace SDK's "OAuth scopes": Google wants the full URLs of email and profile there."""

ICONS = {
    "32x32": "marketplace/icon-32.png",
    "48x48": "marketplace/icon-48.png",
    "96x96": "marketplace/icon-96.png",
    "128x128": "marketplace/icon-128.png",
    "card banner 220x140": "marketplace/banner-220x140.png",
}
"""Under ``app/static/``; drawn by ``scripts/make-marketplace-icons``."""

TEXTS = {
    "en": {
        "name": "GroupSync",
        "short": "Keep a contact group in Google Contacts equal to a CRM list.",
        "detailed": (
            "GroupSync creates one contact group per CRM list in each chosen colleague's Google "
            "Contacts and keeps it equal to the list: it adds, updates and deletes contacts only inside "
            "that group and never changes other contacts. Every Google request is recorded in a "
            "tamper-evident ledger. A Workspace admin can connect the whole domain once and choose "
            "who gets which list; each user is told before the first sync and can turn it off."
        ),
    },
    "uk": {
        "name": "GroupSync",
        "short": "Група контактів у Google Контактах, що завжди відповідає списку з CRM.",  # noqa: RUF001 (Cyrillic text naming Google and CRM)
        "detailed": (
            "GroupSync створює в Google Контактах обраних колег одну групу для кожного списку CRM і "  # noqa: RUF001 (Cyrillic text naming Google and CRM)
            "підтримує її такою, як список: додає, змінює й видаляє контакти лише в цій групі й "
            "ніколи не змінює інших контактів. Кожен запит до Google записується до захищеного "
            "журналу. Адміністратор Workspace може під'єднати весь домен одним разом і вибрати, хто "  # noqa: RUF001 (Cyrillic text naming Google and CRM)
            "отримає який список; кожного користувача повідомляють до першої синхронізації, і він "  # noqa: RUF001 (Cyrillic text naming Google and CRM)
            "може її вимкнути."
        ),
    },
    "ru": {
        "name": "GroupSync",
        "short": "Группа контактов в Google Контактах, всегда совпадающая со списком из CRM.",  # noqa: RUF001 (Cyrillic text naming Google and CRM)
        "detailed": (
            "GroupSync создаёт в Google Контактах выбранных коллег одну группу для каждого списка CRM "
            "и поддерживает её равной списку: добавляет, изменяет и удаляет контакты только в этой "
            "группе и никогда не меняет другие контакты. Каждый запрос к Google записывается в "
            "защищённый журнал. Администратор Workspace может подключить весь домен один раз и "
            "выбрать, кто получит какой список; каждого пользователя уведомляют до первой "
            "синхронизации, и он может её отключить."
        ),
    },
}


def listing(settings: Settings) -> dict[str, Any]:
    """The listing's fields with this installation's URLs; a missing URL is named, never invented."""
    base = settings.public_url
    return {
        "scopes": list(SCOPES),
        "texts": TEXTS,
        "icons": {size: f"{base}/static/{path}" for size, path in ICONS.items()},
        "urls": {
            "privacy_policy": f"{base}/privacy",
            "terms_of_service": settings.terms_url or "(set GROUPSYNC_TERMS_URL)",
            "support": settings.support_url or "(set GROUPSYNC_SUPPORT_URL)",
            "application": base,
        },
    }
