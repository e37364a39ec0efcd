"""The values both directions agree on: versions, dictionaries, identifier formats, T-CY fields carried in the
Document. One table each, so the writer and the reader cannot drift apart."""

from __future__ import annotations

__all__ = [
    "CATEGORY_OF_REQUEST_TYPE",
    "DESIRED_STATUS",
    "DOCUMENT_FIELDS",
    "DOCUMENT_NAME",
    "DOCUMENT_TYPE",
    "ETSI_FORMATS",
    "ETSI_VERSION",
    "LEGAL_BASIS",
    "NATIONAL_OWNER",
    "PRIORITY",
    "PROFILE_VERSION",
    "PROPERTY_NAME",
    "REQUEST_TYPE_OF_CATEGORY",
    "STATUS_DICTIONARY",
]

ETSI_VERSION = "V1.23.1"
NATIONAL_OWNER = "nohaven"  # NationalProfileOwner, and the owner of nohaven's own dictionaries
PROFILE_VERSION = "1"

# nohaven request type -> value of the national dictionary nohaven/AuthorisationLegalType (the legal basis)
LEGAL_BASIS = {
    "preservation": "BudapestConventionArt29",
    "traffic_disclosure": "BudapestConventionArt30",
    "subscriber": "SecondProtocolArt7",
    "emergency": "SecondProtocolArt9-10",
    "mla": "BudapestConventionArt31",
}

# nohaven priority -> ETSI AuthorisationPriority
PRIORITY = {"urgent": "High", "normal": "Routine"}

# data item category -> ETSI RequestType, and back (with the ETSI values nohaven folds into its three)
REQUEST_TYPE_OF_CATEGORY = {"traffic": "TrafficData", "subscriber": "SubscriberData", "content": "StoredContentData"}
CATEGORY_OF_REQUEST_TYPE: dict[str, tuple[str, ...]] = {
    "TrafficData": ("traffic",),
    "SubscriberData": ("subscriber",),
    "StoredContentData": ("content",),
    "UserIdentifyingData": ("subscriber",),
    "SubscriberDataAndUserIdentifyingData": ("subscriber",),
    "TrafficDataAndStoredContentData": ("traffic", "content"),
}

# LPTask for preservation, LDTask for the others: status dictionary names and the status the requester wants
STATUS_DICTIONARY = {"LP": ("LPTaskStatus", "LPTaskDesiredStatus"), "LD": ("LDTaskStatus", "LDTaskDesiredStatus")}
DESIRED_STATUS = {"LP": "Preserved", "LD": "Disclosed"}

# identifier type -> the TS 103 280 formats (FormatOwner ETSI) a value of that type may be written as, in order
# of preference; a value that fits none is written with FormatOwner nohaven and FormatName = the identifier type.
ETSI_FORMATS: dict[str, tuple[str, ...]] = {
    "ip_address": ("IPv4Address", "IPv6Address", "IPv4CIDR", "IPv6CIDR"),
    "email": ("EmailAddress",),
    "phone": ("InternationalE164",),
}

DOCUMENT_TYPE = (NATIONAL_OWNER, "DocumentType", "TCYRequestFields")
DOCUMENT_NAME = "T-CY request template fields that have no TS 103 120 element"
PROPERTY_NAME = "TCYField"  # PropertyType = nohaven/TCYField/<field>, PropertyValue = its text

# The RequestIn fields the Document carries (bool fields as "true"/"false"); requesting_authority's other parts
# travel in the Authorisation's approval details.
DOCUMENT_FIELDS: dict[str, type] = {
    "channel": str,
    "requested_authority": str,
    "investigating_authority": str,
    "offence": str,
    "summary_of_facts": str,
    "link_to_offence": str,
    "custodian": str,
    "preservation_reason": str,
    "mla_to_follow": bool,
    "confirmation_contact": str,
    "is_extension": bool,
    "previous_reference": str,
    "requesting_authority.time_zone": str,
    "requesting_authority.office_hours": str,
    "requesting_authority.preferred_channel": str,
}
