"""/api/v1 routes. Each parses, calls one service function inside node.work(), and serialises."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from nohaven.api.deps import CurrentSubject, NodeDep
from nohaven.api.downloads import blob_download
from nohaven.audit import reading as audit_reading
from nohaven.auth import service as users
from nohaven.blobs import BlobStore
from nohaven.directory import service as directory
from nohaven.directory.models import NodeIdentity
from nohaven.directory.schema import DirectoryDocument
from nohaven.requests import cases, peer
from nohaven.requests import service as requests
from nohaven.requests.escalation import notifications_for
from nohaven.requests.schema import RequestIn
from nohaven.timeutil import utcnow

router = APIRouter(prefix="/api/v1")


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=1, description="the new status, e.g. Preserved")
    note: str = Field(default="", max_length=2000)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=2000)


class FollowUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mla_id: int


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str
    role: str
    password: str = Field(repr=False)
    display_name: str = ""
    email: str | None = None


@router.get("/health", tags=["node"])
def health(node: NodeDep) -> dict[str, Any]:
    """Liveness, and which State this node serves (no authentication)."""
    with node.db.session() as session:
        identity = session.get(NodeIdentity, 1)
    return {"status": "ok", "state": identity.state_code if identity else None}


@router.get("/me", tags=["node"])
def me(subject: CurrentSubject) -> dict[str, Any]:
    return {"username": subject.username, "role": subject.role.value}


@router.get("/directory/states", tags=["directory"])
def states(node: NodeDep, subject: CurrentSubject) -> list[dict[str, Any]]:
    """Every State of the network with its legal profile."""
    with node.work() as session:
        return [{"code": s.code, "name": s.name, "fictional": s.fictional, "note": s.note,
                 "legal_profile": s.legal_profile} for s in directory.states_for(session, subject)]


@router.get("/directory/states/{code}", tags=["directory"])
def state(code: str, node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    with node.work() as session:
        s = directory.state_for(session, subject, code)
        contacts = [{"key": c.key, "name": c.name, "function": c.function, "agency": a.name, "phones": c.phones,
                     "email": c.email, "languages": c.languages, "office_hours": c.office_hours}
                    for a in s.agencies for c in a.contacts]
        return {"code": s.code, "name": s.name, "fictional": s.fictional, "note": s.note,
                "legal_profile": s.legal_profile, "contacts": contacts}


@router.get("/directory", tags=["directory"])
def export_directory(node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    """The directory as a document `nohaven directory import` accepts."""
    with node.work() as session:
        return directory.export_for(session, subject)


@router.put("/directory", tags=["directory"])
def import_directory(document: DirectoryDocument, node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    """Replace the States listed in the document (admin)."""
    with node.work() as session:
        return {"imported": directory.import_for(session, subject, document)}


@router.post("/requests", status_code=201, tags=["requests"])
def create_request(body: RequestIn, node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    """Log an incoming request or draft an outgoing one; the answer carries its clocks."""
    with node.work() as session:
        return requests.request_view(requests.create_request(session, subject, body))


@router.get("/requests", tags=["requests"])
def list_requests(node: NodeDep, subject: CurrentSubject,
                  open_only: Annotated[bool, Query(alias="open")] = False,
                  status: str | None = None, type: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
    """The requests you may see, the one whose deadline is nearest first."""
    with node.work() as session:
        rows = requests.list_requests(session, subject, open_only=open_only, status=status, request_type=type,
                                      limit=limit)
        return [requests.request_view(r, full=False) for r in rows]


@router.get("/requests/{request_id}", tags=["requests"])
def get_request(request_id: int, node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    """The request with its clocks, timeline, exchange messages (delivery state) and attachments."""
    with node.work() as session:
        return peer.request_detail(session, requests.get_request(session, subject, request_id))


@router.post("/requests/{request_id}/attachments", status_code=201, tags=["requests"])
async def add_attachment(request_id: int, request: Request, node: NodeDep, subject: CurrentSubject,
                         name: Annotated[str, Query(min_length=1, max_length=255)]) -> dict[str, Any]:
    """Attach the request body as a file (streamed; its Content-Type is kept); for a request received from
    another State's node, it is delivered to that node."""
    writer = BlobStore(node.settings.blob_dir).writer()
    try:
        async for chunk in request.stream():
            writer.write(chunk)
    except BaseException:
        writer.abort()
        raise
    digest = writer.commit()
    media_type = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip()

    def attach() -> dict[str, Any]:
        with node.work() as session:
            return peer.attachment_view(peer.add_attachment(session, subject, request_id, name=name,
                                                            media_type=media_type, size=writer.size,
                                                            sha256=digest, now=utcnow()))
    return await run_in_threadpool(attach)


@router.get("/requests/{request_id}/attachments/{attachment_id}", tags=["requests"],
            response_class=StreamingResponse)
def get_attachment(request_id: int, attachment_id: int, node: NodeDep, subject: CurrentSubject) -> Response:
    """The attached file's bytes (audited); its SHA-256 is in the X-Content-SHA256 header."""
    with node.work() as session:
        a = peer.attachment_for(session, subject, request_id, attachment_id)
        name, media_type, digest = a.name, a.media_type, a.sha256
    return blob_download(node, name, digest, media_type)


@router.post("/requests/{request_id}/transitions", tags=["requests"])
def transition(request_id: int, body: TransitionIn, node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    """Change status; 409 lists the allowed statuses when the change is illegal."""
    with node.work() as session:
        return requests.request_view(requests.transition(session, subject, request_id, body.to, body.note))


@router.post("/requests/{request_id}/acknowledge", tags=["requests"])
def acknowledge(request_id: int, node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    with node.work() as session:
        return requests.request_view(requests.acknowledge(session, subject, request_id))


@router.post("/requests/{request_id}/written-confirmation", tags=["requests"])
def written_confirmation(request_id: int, node: NodeDep, subject: CurrentSubject,
                         body: Annotated[NoteIn | None, Body()] = None) -> dict[str, Any]:
    with node.work() as session:
        return requests.request_view(requests.confirm_written(session, subject, request_id,
                                                              body.note if body else ""))


@router.post("/requests/{request_id}/follow-up", tags=["requests"])
def follow_up(request_id: int, body: FollowUpIn, node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    """Link a preservation request to the MLA request that follows it."""
    with node.work() as session:
        return requests.request_view(requests.link_follow_up(session, subject, request_id, body.mla_id))


@router.post("/cases/{reference}/members", status_code=201, tags=["requests"])
def add_case_member(reference: str, body: MemberIn, node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    with node.work() as session:
        case = cases.add_member(session, subject, reference, body.username)
        return {"case": case.reference, "added": body.username}


@router.get("/notifications", tags=["requests"])
def notifications(node: NodeDep, subject: CurrentSubject,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """Warnings and escalations sent to on-call supervisors."""
    with node.work() as session:
        return notifications_for(session, subject, limit)


@router.get("/audit", tags=["audit"])
def audit_entries(node: NodeDep, subject: CurrentSubject,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100, before: int | None = None,
                  actor: str | None = None, object_type: str | None = None,
                  object_id: str | None = None) -> list[dict[str, Any]]:
    """The audit log, newest first (auditors)."""
    with node.work() as session:
        return audit_reading.read_page(session, subject, limit=limit, before=before, actor=actor,
                                       object_type=object_type, object_id=object_id)


@router.get("/audit/verify", tags=["audit"])
def audit_verify(node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    with node.work() as session:
        return audit_reading.verify_as(session, subject).as_dict()


@router.post("/users", status_code=201, tags=["users"])
def add_user(body: UserIn, node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    with node.work() as session:
        user = users.add_user_as(session, subject, username=body.username, role=body.role, password=body.password,
                                 display_name=body.display_name, email=body.email)
        return {"username": user.username, "role": user.role}


@router.post("/users/{username}/tokens", status_code=201, tags=["users"])
def create_token(username: str, node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    """A new API token (for yourself, or for anyone as admin); shown once."""
    with node.work() as session:
        token = users.create_token_as(session, subject, username)
        return {"username": username, "token": token}
