"""Imports every domain's models so the metadata (and Alembic) sees all tables."""

from app.accounts import models as accounts_models
from app.crm import models as crm_models
from app.google import domain_models as google_domain_models
from app.google import models as google_models
from app.ledger import models as ledger_models
from app.privacy import models as privacy_models
from app.security import models as security_models
from app.subject_requests import models as subject_requests_models
from app.sync import models as sync_models
from app.worker import models as worker_models

__all__ = [
    "accounts_models",
    "crm_models",
    "google_domain_models",
    "google_models",
    "ledger_models",
    "privacy_models",
    "security_models",
    "subject_requests_models",
    "sync_models",
    "worker_models",
]
