"""Use cases of the CRM domain, one module per service; each owns its transaction.

* :mod:`.contacts` — upsert, delete, read and search contacts
* :mod:`.lists` — create, rename, delete and read lists
* :mod:`.members` — which contacts a list holds
* :mod:`.access` — which lists each member may sync
* :mod:`.settings` — the account's CRM settings
* :mod:`.api_keys` — keys of the CRM-facing API
* :mod:`.common` — outcomes, errors, paging and :func:`~.common.transaction`

A public function commits its step through :func:`app.db.unit_of_work` (or
:func:`~.common.transaction`, which also reports a unique-key race as :class:`ConflictError`),
except those documented as working "in the caller's transaction". Callers pass the session and
the tenant (``account_id``) explicitly: the API resolves the account from the API key, the admin
views from :func:`app.accounts.tenancy.current_account`. Every query is restricted to that account.

The names below are re-exported so callers can keep writing ``services.upsert_contact``.
"""

from __future__ import annotations

from app.crm.services.access import (
    access_by_list,
    grant_access,
    lists_available_to,
    syncs_by_list,
    withdraw_access,
    withdraw_all_access,
)
from app.crm.services.api_keys import (
    API_KEY_PREFIX,
    FormAlreadyUsedError,
    api_keys,
    authenticate_api_key,
    create_api_key,
    revoke_api_key,
)
from app.crm.services.common import (
    ConflictError,
    ItemResult,
    NameTakenError,
    NotFoundError,
    Outcome,
    Page,
    transaction,
)
from app.crm.services.contacts import (
    DeletionReach,
    contact_payload,
    delete_contact,
    delete_contacts,
    delete_with_undo,
    deletion_reach,
    get_contact,
    page_contacts,
    search_contacts,
    store_contact_data,
    to_contact_data,
    undo_delete,
    upsert_contact,
    upsert_contacts,
)
from app.crm.services.lists import (
    create_list,
    delete_list,
    find_list_by_name,
    find_or_create_list_by_name,
    get_list,
    list_sizes,
    page_lists,
    put_list,
    rename_list,
)
from app.crm.services.members import add_contacts_to_list, change_members, page_members
from app.crm.services.settings import default_region, set_default_region

__all__ = [
    "API_KEY_PREFIX",
    "ConflictError",
    "DeletionReach",
    "FormAlreadyUsedError",
    "ItemResult",
    "NameTakenError",
    "NotFoundError",
    "Outcome",
    "Page",
    "access_by_list",
    "add_contacts_to_list",
    "api_keys",
    "authenticate_api_key",
    "change_members",
    "contact_payload",
    "create_api_key",
    "create_list",
    "default_region",
    "delete_contact",
    "delete_contacts",
    "delete_list",
    "delete_with_undo",
    "deletion_reach",
    "find_list_by_name",
    "find_or_create_list_by_name",
    "get_contact",
    "get_list",
    "grant_access",
    "list_sizes",
    "lists_available_to",
    "page_contacts",
    "page_lists",
    "page_members",
    "put_list",
    "rename_list",
    "revoke_api_key",
    "search_contacts",
    "set_default_region",
    "store_contact_data",
    "syncs_by_list",
    "to_contact_data",
    "transaction",
    "undo_delete",
    "upsert_contact",
    "upsert_contacts",
    "withdraw_access",
    "withdraw_all_access",
]
