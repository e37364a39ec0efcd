"""What an envelope carries: an action (CREATE / UPDATE / GET / DELIVER) on a request object, or an error.

Modelled on TS 103 120's ActionRequest (one action on one object, named by its ObjectIdentifier) and its
ErrorInformation. A CREATE carries the request exactly as `nohaven.requests.schema.RequestIn` accepts it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nohaven.directory.schema import AwareDateTime
from nohaven.requests.lifecycle import LD_TRANSITIONS, LP_TRANSITIONS
from nohaven.requests.schema import RequestIn

__all__ = [
    "ACTIONS",
    "CreatePayload",
    "DeliverPayload",
    "DeliveredItem",
    "ErrorInformation",
    "ErrorPayload",
    "GetPayload",
    "Payload",
    "ReceiptInformation",
    "ReceiptPayload",
    "RequestUpdate",
    "UpdatePayload",
]

ACTIONS = ("CREATE", "UPDATE", "GET", "DELIVER")
UUID_TEXT = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"  # lowercase, hyphenated: one spelling
TASK_STATUSES = tuple(sorted(set(LP_TRANSITIONS) | set(LD_TRANSITIONS)))
MAX_SIZE = 2**53 - 1


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CreatePayload(Strict):
    """Create the request object `object_id` at the receiver. Requests it relates to are named by their object
    ids (a node's own row ids mean nothing to another node)."""

    action: Literal["CREATE"]
    object_id: str = Field(pattern=UUID_TEXT)
    request: RequestIn
    extends_object_id: str | None = Field(default=None, pattern=UUID_TEXT)
    follows_object_id: str | None = Field(default=None, pattern=UUID_TEXT)

    @model_validator(mode="after")
    def _no_local_ids(self) -> CreatePayload:
        if self.request.extends_id is not None or self.request.follows_preservation_id is not None:
            raise ValueError("request.extends_id and request.follows_preservation_id are the sender's row ids; "
                             "name linked requests by extends_object_id / follows_object_id")
        return self


class RequestUpdate(Strict):
    """A change the receiver made to a request: a TS 103 120 task status, an acknowledgement, a note."""

    status: str | None = None
    acknowledged_at: AwareDateTime | None = None
    note: str = Field(default="", max_length=5000)

    @model_validator(mode="after")
    def _something(self) -> RequestUpdate:
        if self.status is not None and self.status not in TASK_STATUSES:
            raise ValueError(f"status {self.status!r} is not an LPTaskStatus or LDTaskStatus "
                             f"({', '.join(TASK_STATUSES)})")
        if self.status is None and self.acknowledged_at is None and not self.note:
            raise ValueError("an update changes something: give status, acknowledged_at or note")
        return self


class UpdatePayload(Strict):
    action: Literal["UPDATE"]
    object_id: str = Field(pattern=UUID_TEXT)
    update: RequestUpdate


class GetPayload(Strict):
    """Ask for the current state of the request object."""

    action: Literal["GET"]
    object_id: str = Field(pattern=UUID_TEXT)


class DeliveredItem(Strict):
    """One delivered file or record set, named by its digest; the content travels beside the envelope."""

    name: str = Field(min_length=1, max_length=255)
    media_type: str = Field(pattern=r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$", max_length=255)
    size: int = Field(ge=0, le=MAX_SIZE)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class DeliverPayload(Strict):
    action: Literal["DELIVER"]
    object_id: str = Field(pattern=UUID_TEXT)
    items: list[DeliveredItem] = Field(min_length=1)


class ReceiptInformation(Strict):
    """The signed answer to an accepted envelope: which transaction, and the object as the receiver holds it."""

    transaction: str = Field(pattern=UUID_TEXT)
    object_id: str | None = Field(default=None, pattern=UUID_TEXT)
    reference: str = Field(default="", max_length=64)
    status: str | None = Field(default=None, max_length=40)


class ReceiptPayload(Strict):
    action: Literal["RECEIPT"]
    receipt: ReceiptInformation


class ErrorInformation(Strict):
    reason: str = Field(pattern=r"^[a-z][a-z_]{0,63}$")
    description: str = Field(max_length=2000)
    refused_transaction: str | None = Field(default=None, pattern=UUID_TEXT)


class ErrorPayload(Strict):
    """A refusal, sent in reply to the envelope named by the header's InReplyTo."""

    action: Literal["ERROR"]
    error: ErrorInformation


Payload = Annotated[CreatePayload | UpdatePayload | GetPayload | DeliverPayload | ReceiptPayload | ErrorPayload,
                    Field(discriminator="action")]
