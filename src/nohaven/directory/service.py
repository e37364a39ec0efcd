"""Import, export and look-ups of the directory: legal profiles, points of contact, who is on call."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from nohaven.audit import log as audit
from nohaven.auth.policy import Action, Subject
from nohaven.auth.service import require
from nohaven.directory.models import Agency, Contact, NodeIdentity, OnCallShift, State
from nohaven.directory.schema import FORMAT, DirectoryDocument, LegalProfile
from nohaven.errors import ConflictError, DirectoryFileError, InputError, NotFoundError
from nohaven.timeutil import utcnow
from nohaven.validation import errors_of

__all__ = [
    "export_document",
    "import_document",
    "legal_profile",
    "load_document",
    "node_identity",
    "on_call",
]


def parse_document(text: str, source: str = "directory") -> DirectoryDocument:
    """Parse YAML or JSON text into a validated document; every problem is named by its path."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise DirectoryFileError(f"{source}: not valid YAML or JSON{where}") from None
    if not isinstance(raw, dict):
        raise DirectoryFileError(f"{source}: the document must be a mapping with a 'states' list")
    try:
        return DirectoryDocument.model_validate(raw)
    except ValidationError as exc:
        errors = errors_of(exc)
        raise DirectoryFileError(f"{source}: {len(errors)} problem(s) in the directory file", errors=errors) from None


def load_document(path: Path) -> DirectoryDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError.field("FILE", f"cannot read {path.name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError.field("FILE", f"{path.name} is not UTF-8 text") from None
    return parse_document(text, path.name)


def import_document(session: Session, doc: DirectoryDocument, *, actor: str) -> dict[str, int]:
    """Replace the listed States (and their agencies, contacts and rota) in one transaction."""
    counts = {"states": 0, "agencies": 0, "contacts": 0, "shifts": 0}
    for entry in doc.states:
        existing = session.get(State, entry.code)
        if existing is not None:
            session.delete(existing)
            session.flush()
        state = State(code=entry.code, name=entry.name, fictional=entry.fictional, note=entry.note,
                      time_zone=entry.time_zone,
                      legal_profile=entry.legal_profile.model_dump(mode="json"))
        session.add(state)
        by_key: dict[str, Contact] = {}
        for agency_entry in entry.agencies:
            agency = Agency(name=agency_entry.name, kind=agency_entry.kind, address=agency_entry.address,
                            point_of_contact=agency_entry.point_of_contact)
            state.agencies.append(agency)
            counts["agencies"] += 1
            for c in agency_entry.contacts:
                taken = session.execute(select(Contact).where(Contact.key == c.key)).scalar_one_or_none()
                if taken is not None:
                    raise DirectoryFileError(f"contact key {c.key!r} is used by another State already",
                                             errors=[{"field": f"states[{entry.code}].contacts", "message":
                                                      f"{c.key!r} taken"}])
                contact = Contact(key=c.key, name=c.name, function=c.function, phones=list(c.phones), email=c.email,
                                  fax=c.fax, languages=list(c.languages),
                                  office_hours=c.office_hours.model_dump(mode="json"))
                agency.contacts.append(contact)
                by_key[c.key] = contact
                counts["contacts"] += 1
        for shift in entry.on_call:
            by_key[shift.contact].shifts.append(
                OnCallShift(role=shift.role, starts_at=shift.starts_at, ends_at=shift.ends_at))
            counts["shifts"] += 1
        counts["states"] += 1
        session.flush()
    audit.record(session, actor=actor, action="directory.import", object_type="directory",
                 detail={**counts, "states_imported": [s.code for s in doc.states]})
    return counts


def export_document(session: Session, *, actor: str) -> dict[str, Any]:
    """The whole directory as a document that `import` accepts again."""
    states = session.execute(
        select(State).order_by(State.code).options(
            selectinload(State.agencies).selectinload(Agency.contacts).selectinload(Contact.shifts))
    ).scalars().all()
    out_states = []
    for state in states:
        shifts = []
        agencies = []
        for agency in state.agencies:
            contacts = []
            for c in agency.contacts:
                contact: dict[str, Any] = {"key": c.key, "name": c.name, "function": c.function, "phones": c.phones,
                                           "languages": c.languages, "office_hours": _clean(c.office_hours)}
                if c.email:
                    contact["email"] = c.email
                if c.fax:
                    contact["fax"] = c.fax
                contacts.append(contact)
                shifts += [{"contact": c.key, "role": s.role, "starts_at": s.starts_at.isoformat(),
                            "ends_at": s.ends_at.isoformat()} for s in c.shifts]
            agencies.append({"name": agency.name, "kind": agency.kind, "address": agency.address,
                             "point_of_contact": agency.point_of_contact, "contacts": contacts})
        out_states.append({"code": state.code, "name": state.name, "fictional": state.fictional, "note": state.note,
                           **({"time_zone": state.time_zone} if state.time_zone else {}),
                           "legal_profile": state.legal_profile, "agencies": agencies,
                           "on_call": sorted(shifts, key=lambda s: s["starts_at"])})
    audit.record(session, actor=actor, action="directory.export", object_type="directory",
                 detail={"states": len(out_states)})
    document = {"format": FORMAT, "states": out_states}
    DirectoryDocument.model_validate(document)  # what we write must be what we would accept
    return document


def _clean(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v not in (None, [])}


def dump(document: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return str(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))


def states_for(session: Session, subject: Subject) -> list[State]:
    """Every State of the directory, for anyone the policy lets read it."""
    require(subject, Action.DIRECTORY_READ, object_type="directory")
    return list_states(session)


def state_for(session: Session, subject: Subject, code: str) -> State:
    require(subject, Action.DIRECTORY_READ, object_type="directory", object_id=code)
    return get_state(session, code)


def export_for(session: Session, subject: Subject) -> dict[str, Any]:
    require(subject, Action.DIRECTORY_READ, object_type="directory")
    return export_document(session, actor=subject.username)


def import_for(session: Session, subject: Subject, doc: DirectoryDocument) -> dict[str, int]:
    require(subject, Action.DIRECTORY_WRITE, object_type="directory")
    return import_document(session, doc, actor=subject.username)


def list_states(session: Session) -> list[State]:
    return list(session.execute(select(State).order_by(State.code)).scalars())


def get_state(session: Session, code: str) -> State:
    state = session.get(State, code.upper())
    if state is None:
        raise NotFoundError(f"State {code!r} is not in the directory")
    return state


def legal_profile(session: Session, code: str) -> LegalProfile:
    """The State's legal profile, validated."""
    return LegalProfile.model_validate(get_state(session, code).legal_profile)


def node_identity(session: Session) -> NodeIdentity:
    node = session.get(NodeIdentity, 1)
    if node is None:
        raise ConflictError("this node is not initialised; run `nohaven init --state XX --agency NAME ...`")
    return node


def set_node_identity(session: Session, state_code: str, agency_name: str) -> NodeIdentity:
    node = session.get(NodeIdentity, 1)
    if node is None:
        node = NodeIdentity(id=1, state_code=state_code, agency_name=agency_name, created_at=utcnow())
        session.add(node)
    else:
        node.state_code, node.agency_name = state_code, agency_name
    return node


def on_call(session: Session, state_code: str, role: str, at: datetime) -> list[Contact]:
    """Contacts of the State on call in `role` at `at`; falls back to the 24/7 desk of a point-of-contact agency."""
    rows = session.execute(
        select(Contact).join(OnCallShift).join(Agency)
        .where(Agency.state_code == state_code, OnCallShift.role == role,
               OnCallShift.starts_at <= at, OnCallShift.ends_at > at)
        .order_by(Contact.id)
    ).scalars().unique().all()
    if rows:
        return list(rows)
    desk = session.execute(
        select(Contact).join(Agency)
        .where(Agency.state_code == state_code, Agency.point_of_contact.is_(True), Contact.function == role)
        .order_by(Contact.id)
    ).scalars().all()
    return [c for c in desk if c.office_hours.get("always")]
