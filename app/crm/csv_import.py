"""CSV import of contacts into a list: parse, guess a column mapping, import with a per-row report.

Files are UTF-8 with or without a byte-order mark; the delimiter (comma or semicolon) is
detected from the header line. Each row becomes the same payload the API accepts and passes
the same validation, so a CSV cannot store anything the API would refuse. An imported row
replaces only what its mapped columns carry (for e-mails, phones, URLs, the address and
messengers: only the values of the mapped types); everything else GroupSync holds for that
contact stays untouched.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update

from app.contact_fields import CONTACT_FIELDS, ContactData, Kind
from app.crm import services
from app.crm.models import CrmContact, CsvUpload
from app.crm.services import Outcome, transaction
from app.crm.validation import InputError, check_id, check_name, validate_contact
from app.db import DbSession, unit_of_work, utcnow
from app.extensions import N_, stored_message

MAX_ROWS = 25_000
"""A Google account holds at most 25,000 contacts, so a longer list could never be mirrored."""
UPLOAD_LIFETIME = timedelta(days=1)
"""A staged upload waits this long for its mapping, which the admin chooses on the very next page.

Older ones were abandoned; a constant, since keeping a forgotten copy of contacts longer helps nobody.
"""
_STORE_CHUNK = 500

IMPORTED_ADDRESS_TYPE = "home"
"""A CSV carries one address; it replaces the contact's address of this type only."""

_COLUMNS = {column.target: (spec, column) for spec in CONTACT_FIELDS for column in spec.csv}
"""Each mapping target with its field and column, from the field table."""
TARGETS: tuple[str, ...] = ("id", *_COLUMNS)
"""What a column can be mapped to; the empty string means "ignore this column"."""

_ID_ALIASES = ("crm id", "contact id", "external id", "ідентифікатор", "идентификатор")
_ALIASES: dict[str, str] = {
    **dict.fromkeys(_ID_ALIASES, "id"),
    **{alias: target for target, (_, column) in _COLUMNS.items() for alias in column.aliases},
}


class CsvError(Exception):
    """The file as a whole cannot be imported; ``str()`` is a stored message saying why (show it with
    :func:`app.extensions.shown_message`, in the reader's language)."""


class CellError(Exception):
    """A cell that cannot even be turned into a payload (an unreadable date)."""

    def __init__(self, column: str, message: str) -> None:
        self.column, self.message = column, message
        super().__init__(f"{column} {message}")


@dataclass(frozen=True)
class ParsedCsv:
    headers: list[str]
    rows: list[tuple[int, list[str]]]
    """(row number as a spreadsheet shows it, cells); the header is row 1."""
    delimiter: str


@dataclass(frozen=True)
class RowReport:
    row: int
    crm_id: str | None
    status: str
    reason: str = ""


@dataclass
class ImportReport:
    list_name: str
    rows: list[RowReport] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)


def parse_csv(content: bytes) -> ParsedCsv:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvError(
            stored_message(
                N_("the file is not UTF-8: invalid byte at offset %(offset)s; save it as CSV UTF-8"),
                offset=exc.start,
            )
        ) from None
    if "\x00" in text:
        raise CsvError(stored_message(N_("the file contains NUL bytes; it is not a text CSV")))
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        headers = [h.strip() for h in next(reader, [])]
        rows: list[tuple[int, list[str]]] = []
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= MAX_ROWS:
                raise CsvError(
                    stored_message(
                        N_("the file has more than %(rows)s rows, the most a Google account can hold"),
                        rows=MAX_ROWS,
                    )
                )
            rows.append((number, cells))
    except csv.Error as exc:
        raise CsvError(
            stored_message(
                N_("the file is not valid CSV near line %(line)s: %(error)s"),
                line=reader.line_num,
                error=str(exc),
            )
        ) from None
    if not any(headers):
        raise CsvError(stored_message(N_("the file is empty or has no header row")))
    if not rows:
        raise CsvError(
            stored_message(N_("the file has a header row but no contacts below it; nothing to import"))
        )
    return ParsedCsv(headers, rows, delimiter)


def _normalise_header(header: str) -> str:
    return re.sub(r"[\s_]+", " ", header.strip().lower())


def guess_mapping(headers: Sequence[str]) -> list[str]:
    """A target per column from its header; each target is guessed for one column at most."""
    used: set[str] = set()
    mapping = []
    for header in headers:
        name = _normalise_header(header)
        target = name.replace(" ", "_") if name.replace(" ", "_") in TARGETS else _ALIASES.get(name, "")
        if target in used:
            target = ""
        used.add(target)
        mapping.append(target)
    return mapping


def check_mapping(parsed: ParsedCsv, mapping: Sequence[str]) -> None:
    if len(mapping) != len(parsed.headers):
        raise CsvError(
            stored_message(
                N_("the mapping names %(mapped)s columns but the file has %(columns)s"),
                mapped=len(mapping),
                columns=len(parsed.headers),
            )
        )
    chosen = [m for m in mapping if m]
    for target in chosen:
        if target not in TARGETS:
            raise CsvError(
                stored_message(N_("'%(target)s' is not a field a column can be mapped to"), target=target)
            )
        if chosen.count(target) > 1:
            raise CsvError(
                stored_message(N_("more than one column is mapped to '%(target)s'"), target=target)
            )
    if "id" not in chosen:
        raise CsvError(stored_message(N_("map one column to 'id' (the CRM's id of each contact)")))


_BIRTHDAY_FORMATS = (
    re.compile(r"^(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})$"),
    re.compile(r"^--(?P<month>\d{1,2})-(?P<day>\d{1,2})$"),
    re.compile(r"^(?P<day>\d{1,2})\.(?P<month>\d{1,2})(\.(?P<year>\d{4}))?$"),
)


def _birthday(value: str) -> dict[str, int | None] | None:
    for pattern in _BIRTHDAY_FORMATS:
        match = pattern.match(value)
        if match:
            year = match.groupdict().get("year")
            return {
                "year": int(year) if year else None,
                "month": int(match["month"]),
                "day": int(match["day"]),
            }
    return None


def _row_payload(
    cells: dict[str, str], base: dict[str, Any], headers: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Overlay the mapped cells on ``base``; also map payload paths back to column names."""
    row = _Row(cells, dict(base), {}, headers)
    for spec in CONTACT_FIELDS:
        mapped = [(c.target, c.key) for c in spec.csv if c.target in cells]
        if mapped:
            _OVERLAYS[spec.kind](row, spec.name, mapped)
    return row.payload, row.columns


_Mapped = list[tuple[str, str]]
"""The mapped (target, key) pairs of one field."""


@dataclass(frozen=True)
class _Row:
    cells: dict[str, str]
    payload: dict[str, Any]
    columns: dict[str, str]
    """Payload path -> the column it came from, to name the column in an error."""
    headers: dict[str, str]


def _overlay_text(row: _Row, name: str, mapped: _Mapped) -> None:
    row.payload[name] = row.cells[name]
    row.columns[name] = row.headers[name]


def _overlay_typed(row: _Row, name: str, mapped: _Mapped) -> None:
    # The file's values of the mapped types come first; values of other types stay.
    replaced = {type_ for _, type_ in mapped}
    filled = [(target, type_) for target, type_ in mapped if row.cells[target]]
    for index, (target, _) in enumerate(filled):
        row.columns[f"{name}[{index}].value"] = row.headers[target]
    kept = [v for v in row.payload.get(name, []) if v["type"] not in replaced]
    row.payload[name] = [{"value": row.cells[t], "type": type_} for t, type_ in filled] + kept


def _overlay_birthday(row: _Row, name: str, mapped: _Mapped) -> None:
    ((target, _),) = mapped
    row.columns[name] = row.headers[target]
    row.payload[name] = _birthday(row.cells[target]) if row.cells[target] else None
    if row.cells[target] and row.payload[name] is None:
        raise CellError(
            row.headers[target], stored_message(N_("is not a date: use YYYY-MM-DD, --MM-DD or DD.MM.YYYY"))
        )


def _overlay_address(row: _Row, name: str, mapped: _Mapped) -> None:
    parts = {key: row.cells[target] for target, key in mapped}
    others = [a for a in row.payload.get(name, []) if a["type"] != IMPORTED_ADDRESS_TYPE]
    row.payload[name] = others
    if any(parts.values()):
        for target, key in mapped:
            row.columns[f"{name}[0].{key}"] = row.headers[target]
        row.payload[name] = [{"type": IMPORTED_ADDRESS_TYPE, **parts}, *others]


def _overlay_messengers(row: _Row, name: str, mapped: _Mapped) -> None:
    protocols = {protocol: row.cells[target] for target, protocol in mapped}
    kept = [m for m in row.payload.get(name, []) if m["protocol"] not in protocols]
    row.payload[name] = kept
    for target, protocol in mapped:
        username = row.cells[target]
        if username:
            row.columns[f"{name}[{len(kept)}].username"] = row.headers[target]
            kept.append({"protocol": protocol, "username": username})


_OVERLAYS: dict[Kind, Callable[[_Row, str, _Mapped], None]] = {
    Kind.TEXT: _overlay_text,
    Kind.EMAILS: _overlay_typed,
    Kind.PHONES: _overlay_typed,
    Kind.URLS: _overlay_typed,
    Kind.BIRTHDAY: _overlay_birthday,
    Kind.ADDRESSES: _overlay_address,
    Kind.MESSENGERS: _overlay_messengers,
}
"""How the cells mapped to each kind of field replace what the contact held for them."""


def import_rows(
    session: DbSession, account_id: int, parsed: ParsedCsv, mapping: Sequence[str], list_name: str
) -> ImportReport:
    """Import every row into the list called ``list_name`` (created if missing); one transaction."""
    with transaction(session):
        return _import_rows(session, account_id, parsed, mapping, list_name)


@dataclass
class RowCheck:
    """Rows checked against a mapping, before anything is stored."""

    refused: list[RowReport]
    accepted: list[tuple[int, ContactData]]


class NothingToImportError(CsvError):
    """No row of the file can be imported with this mapping; nothing was created."""

    def __init__(self, check: RowCheck) -> None:
        self.check = check
        first = check.refused[0] if check.refused else None
        count = len(check.refused)
        if first is None:
            super().__init__(stored_message(N_("none of the rows can be imported; nothing was created")))
            return
        super().__init__(
            stored_message(
                N_(
                    "none of the %(count)s rows can be imported (row %(row)s: %(reason)s); "
                    "nothing was created"
                ),
                count=count,
                row=first.row,
                reason=first.reason,
            )
        )


def check_rows(session: DbSession, account_id: int, parsed: ParsedCsv, mapping: Sequence[str]) -> RowCheck:
    """Validate every row against ``mapping`` (raises :class:`CsvError` for a bad mapping); stores nothing."""
    check_mapping(parsed, mapping)
    region = services.default_region(session, account_id)
    headers = {target: parsed.headers[i] for i, target in enumerate(mapping) if target}
    id_column = mapping.index("id")
    raw_ids = [cells[id_column].strip() if id_column < len(cells) else "" for _, cells in parsed.rows]
    existing = {
        row.crm_id: row
        for chunk in range(0, len(raw_ids), _STORE_CHUNK)
        for row in session.scalars(
            select(CrmContact).where(
                CrmContact.account_id == account_id,
                CrmContact.crm_id.in_(raw_ids[chunk : chunk + _STORE_CHUNK]),
            )
        )
    }
    seen: dict[str, int] = {}
    result = RowCheck([], [])
    for (number, cells), crm_id in zip(parsed.rows, raw_ids, strict=True):
        problem = _row_problem(cells, parsed, crm_id, seen)
        if problem:
            result.refused.append(RowReport(number, crm_id or None, "skipped", problem))
            continue
        seen[crm_id] = number
        values = {
            t: (cells[i].strip() if i < len(cells) else "") for i, t in enumerate(mapping) if t and t != "id"
        }
        base = (
            services.contact_payload(services.to_contact_data(existing[crm_id])) if crm_id in existing else {}
        )
        try:
            payload, columns = _row_payload(values, base, headers)
            data = validate_contact(payload, default_region=region, crm_id=crm_id)
        except CellError as exc:
            reason = stored_message(
                N_("column '%(column)s' %(problem)s"), column=exc.column, problem=exc.message
            )
            result.refused.append(RowReport(number, crm_id, "skipped", reason))
            continue
        except InputError as exc:
            first = exc.errors[0]
            reason = (
                stored_message(
                    N_("column '%(column)s' %(problem)s"), column=columns[first.field], problem=first.stored()
                )
                if first.field in columns
                else stored_message(N_("%(field)s %(problem)s"), field=first.field, problem=first.stored())
            )
            result.refused.append(RowReport(number, crm_id, "skipped", reason))
            continue
        if data == ContactData(crm_id=crm_id):
            # A contact with nothing but an id would be an empty entry in every Google group.
            reason = stored_message(N_("has nothing but an id: every other mapped column is empty"))
            result.refused.append(RowReport(number, crm_id, "skipped", reason))
            continue
        result.accepted.append((number, data))
    return result


def _import_rows(
    session: DbSession, account_id: int, parsed: ParsedCsv, mapping: Sequence[str], list_name: str
) -> ImportReport:
    """:func:`import_rows` in the caller's transaction.

    Raises :class:`NothingToImportError` before creating anything when no row can be imported,
    so a file whose every row is refused does not leave an empty list behind.
    """
    checked = check_rows(session, account_id, parsed, mapping)
    if not checked.accepted:
        raise NothingToImportError(checked)
    contact_list = services.find_or_create_list_by_name(session, account_id, list_name)
    report = ImportReport(contact_list.name, list(checked.refused))
    accepted = checked.accepted
    stored: list[CrmContact] = []
    for chunk in range(0, len(accepted), _STORE_CHUNK):
        part = accepted[chunk : chunk + _STORE_CHUNK]
        outcomes = services.store_contact_data(session, account_id, [data for _, data in part])
        for (number, data), outcome in zip(part, outcomes, strict=True):
            status = "unchanged" if outcome is Outcome.UNCHANGED else outcome.value
            report.rows.append(RowReport(number, data.crm_id, status))
    ids = [data.crm_id for _, data in accepted]
    for chunk in range(0, len(ids), _STORE_CHUNK):
        stored.extend(
            session.scalars(
                select(CrmContact).where(
                    CrmContact.account_id == account_id,
                    CrmContact.crm_id.in_(ids[chunk : chunk + _STORE_CHUNK]),
                )
            )
        )
    services.add_contacts_to_list(session, contact_list, stored)
    report.rows.sort(key=lambda r: r.row)
    return report


def _row_problem(cells: list[str], parsed: ParsedCsv, crm_id: str, seen: dict[str, int]) -> str | None:
    """Why the row cannot be read, as a stored message (the report is shown later, to any reader)."""
    if len(cells) > len(parsed.headers):
        return stored_message(
            N_("has %(cells)s cells but the header has %(columns)s columns"),
            cells=len(cells),
            columns=len(parsed.headers),
        )
    if not crm_id:
        return stored_message(N_("no CRM id in the id column"))
    try:
        check_id(crm_id, "id")
    except InputError as exc:
        return stored_message(N_("id %(problem)s"), problem=exc.errors[0].stored())
    if crm_id in seen:
        return stored_message(N_("id '%(id)s' already appears in row %(row)s"), id=crm_id, row=seen[crm_id])
    return None


def stage_upload(
    session: DbSession, account_id: int, *, filename: str, content: bytes, list_name: str, user_id: int | None
) -> tuple[CsvUpload, ParsedCsv]:
    """Keep an uploaded file until its mapping is chosen; a file that cannot be parsed is refused."""
    parsed = parse_csv(content)
    name = check_name(list_name, "list")
    upload = CsvUpload(
        account_id=account_id, filename=filename[:255], list_name=name, content=content, created_by=user_id
    )
    with unit_of_work(session):
        session.add(upload)
    return upload, parsed


def report_json(report: ImportReport) -> dict[str, Any]:
    return {
        "list_name": report.list_name,
        "rows": [[r.row, r.crm_id, r.status, r.reason] for r in report.rows],
    }


def report_from_json(data: dict[str, Any]) -> ImportReport:
    return ImportReport(str(data["list_name"]), [RowReport(*row) for row in data["rows"]])


def run_upload(session: DbSession, upload: CsvUpload, mapping: Sequence[str]) -> ImportReport:
    """Import a staged file with the chosen mapping; the staged content is replaced by the report.

    Sent again (a reload, Back, a double click), the same upload answers with its report and
    imports nothing.
    """
    if upload.report is not None:
        return report_from_json(upload.report)
    parsed = parse_csv(upload.content)
    check_mapping(parsed, mapping)
    report: ImportReport | None = None
    with transaction(session):
        # Marking the row first is the claim: it stays locked until the import commits, so
        # purge_stale_uploads waits for it and a second sending of the form finds it taken.
        claimed = session.execute(
            update(CsvUpload)
            .where(CsvUpload.id == upload.id, CsvUpload.imported_at.is_(None))
            .values(imported_at=utcnow(), content=b"")
        )
        if getattr(claimed, "rowcount", 0):
            report = _import_rows(session, upload.account_id, parsed, mapping, upload.list_name)
            stored = update(CsvUpload).where(CsvUpload.id == upload.id).values(report=report_json(report))
            session.execute(stored)
    session.expire(upload)
    if report is not None:
        return report
    if upload.report is None:
        raise CsvError(
            stored_message(
                N_("this file is being imported by another request; reload its report in a moment")
            )
        )
    return report_from_json(upload.report)


def purge_stale_uploads(session: DbSession, now: datetime) -> int:
    """Delete uploads older than ``UPLOAD_LIFETIME`` and reports older than that; commits, returns how many.

    The staged file is the row's ``content``, so it goes with the row. An upload being imported
    is already claimed (``imported_at`` set) in the import's open transaction: the delete here
    waits for that transaction and then leaves the row, whose report stays a day.
    """
    with unit_of_work(session):
        cutoff = now - UPLOAD_LIFETIME
        result = session.execute(
            delete(CsvUpload).where(
                CsvUpload.created_at < cutoff,
                # An import's report stays a day after the import, however old the upload was.
                or_(CsvUpload.imported_at.is_(None), CsvUpload.imported_at < cutoff),
            )
        )
    return int(getattr(result, "rowcount", 0) or 0)
