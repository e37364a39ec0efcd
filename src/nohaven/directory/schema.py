"""The directory document (YAML or JSON): what `nohaven directory import` accepts and `export` writes."""

from __future__ import annotations

from datetime import datetime, time
from functools import cache
from importlib import resources
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from nohaven.errors import InputError
from nohaven.timeutil import parse_duration, zone

__all__ = ["Channel", "DirectoryDocument", "LegalProfile", "StateEntry", "iso_country_codes"]

FORMAT = "nohaven-directory/1"
Channel = Literal["platform", "email", "fax", "voice", "in_person"]
Priority = Literal["urgent", "normal"]
DataCategory = Literal["traffic", "subscriber", "content"]


@cache
def iso_country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes (from the tz database's table) plus the user-assigned ones used for fictional States."""
    text = resources.files("tzdata").joinpath("zoneinfo/iso3166.tab").read_text(encoding="utf-8")
    codes = {line.split("\t")[0] for line in text.splitlines() if line and not line.startswith("#")}
    user_assigned = {"AA", "ZZ"} | {f"Q{c}" for c in "MNOPQRSTUVWXYZ"} | {f"X{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
    return frozenset(codes | user_assigned)


def _duration(value: str) -> str:
    try:
        parse_duration(value)
    except InputError:
        raise ValueError(f"{value!r} is not an ISO 8601 duration such as P60D or PT8H") from None
    return value


def _country(value: str) -> str:
    if value not in iso_country_codes():
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 code (fictional States use XA–XZ)")
    return value


def _tz(value: str) -> str:
    try:
        zone(value)
    except InputError:
        raise ValueError(f"{value!r} is not an IANA time zone name (e.g. Europe/Berlin)") from None
    return value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp has no UTC offset; write it like 2026-11-27T20:00:00+01:00")
    return value


Duration = Annotated[str, AfterValidator(_duration)]
CountryCode = Annotated[str, AfterValidator(_country)]
TimeZoneName = Annotated[str, AfterValidator(_tz)]
AwareDateTime = Annotated[datetime, AfterValidator(_aware)]
Phone = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164, e.g. +442079460000")]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Language = Annotated[str, Field(pattern=r"^[a-z]{2}$", description="ISO 639-1 code")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PerPriority(Strict):
    urgent: Duration
    normal: Duration


class LegalProfile(Strict):
    """The requested State's deadlines and practices; every clock is computed from these, never from code."""

    preservation_period: Duration = Field(
        description="how long preserved data is kept (Budapest Art. 29(7): ≥ 60 days)")
    preservation_extension: Duration = Field(description="length of one extension")
    extension_notice: Duration = Field(description="an extension must be asked this long before expiry")
    mla_follow_up: Duration = Field(description="the formal MLA request must arrive within this after preservation")
    acknowledgement: PerPriority
    response: PerPriority
    response_by_type: dict[str, PerPriority] = Field(default_factory=dict)
    written_confirmation: Duration = Field(description="written confirmation of a request made by voice, fax, e-mail "
                                                       "or in person")
    retention: dict[DataCategory, Duration] = Field(description="how long carriers keep each category of data")
    languages: list[Language] = Field(min_length=1)
    channels: list[Channel] = Field(min_length=1)
    citations: list[str] = Field(default_factory=list)

    @field_validator("response_by_type")
    @classmethod
    def _known_types(cls, value: dict[str, PerPriority]) -> dict[str, PerPriority]:
        known = {"preservation", "traffic_disclosure", "subscriber", "emergency", "mla"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown request type(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return value


class OfficeHours(Strict):
    time_zone: TimeZoneName
    always: bool = Field(default=False, description="staffed 24/7")
    weekdays: list[Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]] = Field(default_factory=list)
    opens: time | None = None
    closes: time | None = None

    @model_validator(mode="after")
    def _hours_given(self) -> OfficeHours:
        if not self.always and (not self.weekdays or self.opens is None or self.closes is None):
            raise ValueError("give weekdays, opens and closes, or always: true")
        return self


class ContactEntry(Strict):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$", description="unique key, used by the on-call rota")
    name: str = Field(min_length=1, max_length=200)
    function: Literal["officer", "supervisor", "central_authority", "prosecutor", "liaison"] = "officer"
    phones: list[Phone] = Field(default_factory=list)
    email: Email | None = None
    fax: Phone | None = None
    languages: list[Language] = Field(default_factory=list)
    office_hours: OfficeHours


class AgencyEntry(Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["police", "prosecution", "ministry", "regulator", "other"]
    address: str = ""
    point_of_contact: bool = False
    contacts: list[ContactEntry] = Field(default_factory=list)


class ShiftEntry(Strict):
    contact: str
    role: Literal["officer", "supervisor"]
    starts_at: AwareDateTime
    ends_at: AwareDateTime

    @model_validator(mode="after")
    def _ordered(self) -> ShiftEntry:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class StateEntry(Strict):
    code: CountryCode
    name: str = Field(min_length=1, max_length=200)
    fictional: bool = False
    time_zone: TimeZoneName | None = Field(default=None, description="the IANA zone the State's 24/7 desk works in; "
                                           "times are shown in it beside UTC")
    note: str = ""
    legal_profile: LegalProfile
    agencies: list[AgencyEntry] = Field(default_factory=list)
    on_call: list[ShiftEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rota_names_contacts(self) -> StateEntry:
        keys = {c.key for a in self.agencies for c in a.contacts}
        for i, shift in enumerate(self.on_call):
            if shift.contact not in keys:
                raise ValueError(f"on_call[{i}].contact {shift.contact!r} is not a contact key of State {self.code}")
        return self


class DirectoryDocument(Strict):
    format: Literal["nohaven-directory/1"] = "nohaven-directory/1"
    states: list[StateEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> DirectoryDocument:
        codes = [s.code for s in self.states]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"State code(s) listed twice: {', '.join(dupes)}")
        keys = [c.key for s in self.states for a in s.agencies for c in a.contacts]
        dupe_keys = sorted({k for k in keys if keys.count(k) > 1})
        if dupe_keys:
            raise ValueError(f"contact key(s) used twice: {', '.join(dupe_keys)}")
        return self
