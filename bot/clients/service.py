"""Import and update clients and advisors (CSV with a header row, or JSONL; the JSON API passes rows directly).

Atomicity: the whole file is validated first, row by row, without touching the database; rows with errors are reported
with their row number and skipped; then every good row is written in the caller's one transaction. So a run either
writes all its good rows or (on a database error) nothing, never half of them. Re-importing the same file is a no-op
(`unchanged`). A client's own opt-out (they replied 退订) is never cleared by an import.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError
from sqlmodel import Session, col, select

from bot.clients.schemas import AdvisorRow, ClientRow, ImportReport, RowError
from bot.models import Advisor, Client
from bot.models.reminder import OptOut

log = logging.getLogger(__name__)

CLIENT_FIELDS = tuple(ClientRow.model_fields)
ADVISOR_FIELDS = tuple(AdvisorRow.model_fields)
_LOOKUP_CHUNK = 500


class ImportFileError(ValueError):
    """The file as a whole cannot be read (unknown format, no header, not UTF-8)."""


def read_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """(row number, raw mapping) for each data row of a .csv / .jsonl / .json file."""
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError(f"{path.name}: not UTF-8 text") from None
    if suffix == ".csv":
        yield from read_csv(text)
    elif suffix in (".jsonl", ".ndjson"):
        yield from read_jsonl(text)
    elif suffix == ".json":
        data = json.loads(text)
        for index, item in enumerate(data if isinstance(data, list) else data.get("rows", []), start=1):
            yield index, item
    else:
        raise ImportFileError(f"{path.name}: expected .csv or .jsonl")


def read_csv(text: str) -> Iterator[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise ImportFileError("the CSV has no header row")
    reader.fieldnames = [name.strip() for name in reader.fieldnames]
    for record in reader:
        # line_num is the physical line the record ended on: the row number the user sees in an editor.
        yield reader.line_num, {k: (v.strip() if isinstance(v, str) else v) for k, v in record.items() if k}


def read_jsonl(text: str) -> Iterator[tuple[int, dict]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, {"__error__": f"not JSON: {exc.msg}"}
            continue
        yield number, item if isinstance(item, dict) else {"__error__": "each line must be a JSON object"}


def _validate(rows: Iterable[tuple[int, dict]], model: type[BaseModel], key: str, report: ImportReport,
              *, drop_empty: bool = False) -> list[tuple[int, BaseModel, set[str]]]:
    good: list[tuple[int, BaseModel, set[str]]] = []
    seen: dict[str, int] = {}
    for number, raw in rows:
        if "__error__" in raw:
            report.errors.append(RowError(row=number, message=raw["__error__"]))
            continue
        unknown = sorted(set(raw) - set(model.model_fields))
        data = {k: v for k, v in raw.items() if k in model.model_fields}
        if drop_empty:
            data = {k: v for k, v in data.items() if v not in ("", None)}
        try:
            row = model.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"]) or None
                report.errors.append(RowError(row=number, field=field,
                                              message=err["msg"].removeprefix("Value error, ")))
            continue
        ident = getattr(row, key)
        if ident in seen:
            report.errors.append(RowError(row=number, field=key, message=f"duplicate of row {seen[ident]}"))
            continue
        seen[ident] = number
        if unknown:
            report.warnings.append(RowError(row=number, message=f"ignored columns: {', '.join(unknown)}"))
        good.append((number, row, set(data)))
    return good


def import_clients(*, session: Session, rows: Iterable[tuple[int, dict]], now: datetime) -> ImportReport:
    """Validate every row, report bad ones by number, upsert the good ones (by external_userid) in this session."""
    report = ImportReport()
    good = _validate(rows, ClientRow, "external_userid", report)
    ids = [row.external_userid for _, row, _ in good]  # type: ignore[attr-defined]
    existing: dict[str, Client] = {}
    opted: set[str] = set()
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        for client in session.exec(select(Client).where(col(Client.wecom_external_userid).in_(chunk))).all():
            existing[client.wecom_external_userid] = client
        opted.update(session.exec(select(OptOut.external_userid).where(col(OptOut.external_userid).in_(chunk))).all())
    advisors = set(session.exec(select(Advisor.wecom_userid)).all())
    for number, row, present in good:
        assert isinstance(row, ClientRow)
        if row.advisor_userid and row.advisor_userid not in advisors:
            report.warnings.append(RowError(row=number, field="advisor_userid",
                                            message=f"unknown advisor {row.advisor_userid!r} (kept; import advisors)"))
        values = row.model_dump(include=present - {"external_userid"})
        if row.external_userid in opted:
            values["opted_out"] = True
        client = existing.get(row.external_userid)
        if client is None:
            session.add(Client(wecom_external_userid=row.external_userid, created_at=now, updated_at=now, **values))
            report.created += 1
            continue
        changed = {k: v for k, v in values.items() if getattr(client, k) != v}
        if not changed:
            report.unchanged += 1
            continue
        for k, v in changed.items():
            setattr(client, k, v)
        client.updated_at = now
        session.add(client)
        report.updated += 1
    session.flush()
    log.info("clients.imported created=%s updated=%s unchanged=%s errors=%s", report.created, report.updated,
             report.unchanged, len(report.errors))
    return report


def import_advisors(*, session: Session, rows: Iterable[tuple[int, dict]], now: datetime) -> ImportReport:
    """Validate every row, report bad ones by number, upsert the good ones (by WeCom userid) in this session."""
    report = ImportReport()
    good = _validate(rows, AdvisorRow, "userid", report, drop_empty=True)
    for _number, row, present in good:
        assert isinstance(row, AdvisorRow)
        values = row.model_dump(include=present - {"userid"})
        advisor = session.exec(select(Advisor).where(Advisor.wecom_userid == row.userid)).first()
        if advisor is None:
            session.add(Advisor(wecom_userid=row.userid, created_at=now, **values))
            report.created += 1
            continue
        changed = {k: v for k, v in values.items() if getattr(advisor, k) != v}
        if not changed:
            report.unchanged += 1
            continue
        for k, v in changed.items():
            setattr(advisor, k, v)
        session.add(advisor)
        report.updated += 1
    session.flush()
    return report


def get_client(*, session: Session, external_userid: str) -> Client | None:
    return session.exec(select(Client).where(Client.wecom_external_userid == external_userid)).first()


def list_advisors(*, session: Session) -> list[Advisor]:
    return list(session.exec(select(Advisor).order_by(Advisor.id)).all())


def import_clients_file(*, session: Session, path: Path, now: datetime) -> ImportReport:
    """import_clients() on a .csv / .jsonl / .json file."""
    return import_clients(session=session, rows=read_rows(path), now=now)


def import_advisors_file(*, session: Session, path: Path, now: datetime) -> ImportReport:
    """import_advisors() on a .csv / .jsonl / .json file."""
    return import_advisors(session=session, rows=read_rows(path), now=now)
