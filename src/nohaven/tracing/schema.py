"""What the trace service takes: observations (as every tracing piece passes them), new traces and hops, answers
to a hop's disclosure request, and the choice of requests to file."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from nohaven.directory.schema import Duration

__all__ = ["AnswerIn", "FileRequestsIn", "HopIn", "NextHopIn", "ObservationIn", "TraceIn"]

HopSource = Literal["observation", "email", "manual"]
RequestKind = Literal["preservation", "traffic_disclosure", "domestic_order"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip().strip("[]")))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from None


IPAddress = Annotated[str, AfterValidator(_ip)]
"""An IPv4 or IPv6 address, bracketed or not, in its normal form."""


class ObservationIn(Strict):
    """An endpoint of the communication as a source recorded it: address, port, time as written."""

    ip: IPAddress
    port: int | None = Field(default=None, ge=0, le=65535)
    protocol: str | None = Field(default=None, max_length=16, pattern=r"^[a-z0-9-]+$")
    time_text: str = Field(min_length=1, max_length=200, description="the time as written in the source")
    time_zone: str | None = Field(default=None, description="IANA zone for a time written without its offset")
    offset_unknown: bool = Field(default=False, description="the source says its zone is unknown")
    uncertainty: Duration = Field(default="PT1S", description="ISO 8601 duration, ± around the instant")
    seen_where: str = Field(default="", max_length=2000)
    note: str = Field(default="", max_length=5000)

    @field_validator("protocol", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class HopIn(ObservationIn):
    """A hop added to a trace: an observation, under the hop it follows from (if any)."""

    parent: int | str | None = Field(default=None, description="id or label (H1) of the hop it follows from")
    source: HopSource = "observation"


class TraceIn(Strict):
    """A new trace, in a case (a new one with its creator as member when none is named), from its first hops."""

    title: str = Field(min_length=1, max_length=300)
    case_reference: str | None = Field(default=None, max_length=64)
    offence: str = Field(default="", max_length=500)
    summary: str = Field(default="", max_length=10000)
    observations: list[ObservationIn] = Field(default_factory=list, max_length=200)
    source: HopSource = "observation"


class NextHopIn(Strict):
    """An endpoint a disclosure answer names as the next one in the chain."""

    ip: IPAddress
    port: int | None = Field(default=None, ge=0, le=65535)
    protocol: str | None = Field(default=None, max_length=16)
    time: str = Field(min_length=1, max_length=200)
    time_zone: str | None = None
    offset_unknown: bool = False
    uncertainty: Duration = "PT1S"
    note: str = Field(default="", max_length=5000)

    def observation(self, seen_where: str) -> dict[str, Any]:
        """This endpoint as an observation."""
        return {"ip": self.ip, "port": self.port, "protocol": (self.protocol or None) and self.protocol.lower(),
                "time_text": self.time, "time_zone": self.time_zone, "offset_unknown": self.offset_unknown,
                "uncertainty": self.uncertainty, "seen_where": seen_where, "note": self.note}


class AnswerIn(Strict):
    """What came back for a hop: next endpoints (fan-out), the subscriber (the origin), or a dead end."""

    request_id: int | None = Field(default=None, description="the request this answers (one linked to the hop)")
    next_hops: list[NextHopIn] = Field(default_factory=list, max_length=500)
    subscriber: dict[str, Any] | None = None
    candidates: list[dict[str, Any]] = Field(default_factory=list, description="several possible subscribers: "
                                             "kept as ambiguous, every one shown, none picked")
    dead_end: str | None = Field(default=None, max_length=2000, description="why the chain breaks here, e.g. "
                                 "'data deleted'")
    note: str = Field(default="", max_length=5000)

    @model_validator(mode="after")
    def _says_something(self) -> AnswerIn:
        if self.dead_end is not None and (self.next_hops or self.subscriber or self.candidates):
            raise ValueError("a dead end names no next hop and no subscriber")
        if not (self.next_hops or self.subscriber or self.candidates or self.dead_end):
            raise ValueError("an answer names next hops, a subscriber, candidates, or a dead end")
        return self


class FileRequestsIn(Strict):
    """Which of a hop's drafted requests to file, and fields to set on each (e.g. priority, channel)."""

    types: list[RequestKind] | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)
