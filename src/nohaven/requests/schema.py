"""What a new cooperation request must contain: the T-CY Art. 29/30 template fields, validated."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from nohaven.directory.schema import AwareDateTime, Channel, CountryCode, Email, Phone, Priority, TimeZoneName
from nohaven.errors import InputError
from nohaven.requests.lifecycle import RequestType
from nohaven.timeutil import parse_aware

__all__ = ["DataItemIn", "RequestIn", "RequestingAuthority"]

IdentifierType = Literal["ip_address", "ip_port", "email", "phone", "domain", "url", "account", "device_id", "other"]
DataCategory = Literal["traffic", "subscriber", "content"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class RequestingAuthority(Strict):
    organisation: str = Field(min_length=1, max_length=300)
    officer: str = Field(min_length=1, max_length=200)
    address: str = ""
    phones: list[Phone] = Field(min_length=1)
    email: Email | None = None
    fax: Phone | None = None
    office_hours: str = ""
    time_zone: TimeZoneName
    preferred_channel: Channel = "email"


class DataItemIn(Strict):
    """One identifier and the time range of the data concerned, each end with its UTC offset."""

    identifier_type: IdentifierType
    value: str = Field(min_length=1, max_length=512)
    data_category: DataCategory = "traffic"
    time_from: str | None = None
    time_to: str | None = None

    @field_validator("time_from", "time_to")
    @classmethod
    def _with_offset(cls, value: str | None, info: ValidationInfo) -> str | None:
        _aware_or_error(value, info.field_name or "timestamp")
        return value

    @model_validator(mode="after")
    def _times(self) -> DataItemIn:
        start = self.start()
        end = self.end()
        if start and end and end < start:
            raise ValueError("time_to is before time_from")
        return self

    def start(self) -> datetime | None:
        return _aware_or_error(self.time_from, "time_from")

    def end(self) -> datetime | None:
        return _aware_or_error(self.time_to, "time_to")


def _aware_or_error(text: str | None, field: str) -> datetime | None:
    if not text:
        return None
    try:
        return parse_aware(text, field)
    except InputError as exc:
        raise ValueError(exc.errors[0]["message"] if exc.errors else exc.message) from None


class RequestIn(Strict):
    """A cooperation request as an officer logs it (incoming) or drafts it (outgoing)."""

    type: RequestType
    direction: Literal["incoming", "outgoing"] = "incoming"
    channel: Channel
    priority: Priority
    case_reference: str | None = Field(default=None, max_length=64)
    case_title: str = Field(default="", max_length=300)
    requesting_state: CountryCode
    requested_state: CountryCode | None = None
    their_reference: str = Field(default="", max_length=128)
    request_date: AwareDateTime | None = None
    received_at: AwareDateTime | None = None
    is_extension: bool = False
    extends_id: int | None = None
    previous_reference: str = Field(default="", max_length=128)
    follows_preservation_id: int | None = Field(default=None, description="for an MLA request: the preservation "
                                                "request it follows")
    requested_authority: str = Field(min_length=1, max_length=300)
    requesting_authority: RequestingAuthority
    confirmation_contact: str = Field(default="", max_length=300)
    investigating_authority: str = Field(min_length=1, max_length=300)
    offence: str = Field(min_length=1, max_length=500)
    summary_of_facts: str = Field(min_length=1, max_length=10000)
    data_items: list[DataItemIn] = Field(default_factory=list)
    link_to_offence: str = Field(default="", max_length=5000)
    custodian: str = Field(default="", max_length=1000, description="custodian of the data or location of the "
                           "computer system")
    preservation_reason: str = Field(default="", max_length=5000)
    mla_to_follow: bool = False

    def problems(self) -> list[dict[str, str]]:
        """What this type of request lacks, field by field (the T-CY template's required parts)."""
        problems: list[tuple[str, str]] = []
        if self.type == RequestType.PRESERVATION:
            if not self.data_items:
                problems.append(("data_items", "a preservation request names at least one item of data to preserve"))
            if not self.preservation_reason:
                problems.append(("preservation_reason", "say why preservation is needed"))
            if not self.custodian:
                problems.append(("custodian", "name the custodian of the data or the location of the system"))
            if not self.mla_to_follow:
                problems.append(("mla_to_follow", "a preservation request states that an MLA request will follow "
                                "(Budapest Art. 29(2)(e))"))
            if not self.link_to_offence:
                problems.append(("link_to_offence", "say how the data relates to the offence"))
        if self.type in (RequestType.TRAFFIC_DISCLOSURE, RequestType.SUBSCRIBER) and not self.data_items:
            problems.append(("data_items", "name the identifier whose data is asked for"))
        if self.is_extension and self.extends_id is None:
            problems.append(("extends_id", "an extension names the original request it extends"))
        if self.is_extension and self.type != RequestType.PRESERVATION:
            problems.append(("is_extension", "only a preservation request can be extended"))
        if self.follows_preservation_id is not None and self.type != RequestType.MLA:
            problems.append(("follows_preservation_id", "only an MLA request follows a preservation request"))
        return [{"field": field, "message": message} for field, message in problems]

    def template(self) -> dict[str, object]:
        """The T-CY template fields that are stored as one document with the request."""
        return self.model_dump(mode="json", include={
            "requested_authority", "requesting_authority", "confirmation_contact", "investigating_authority",
            "offence", "summary_of_facts", "link_to_offence", "custodian", "preservation_reason", "mla_to_follow",
            "previous_reference",
        })
