"""One Received header's clauses (RFC 5321 §4.4 Time-stamp-line), in the shapes real servers write them.

`from X (Y [IP])` — Postfix, Sendmail and Gmail: X is the HELO name, Y the reverse-DNS name (`unknown` when
there is none), IP in brackets, `[IPv6:...]` for IPv6. `from Y ([IP]:port helo=X)` — Exim: Y is the verified
name or `[IP]`, the HELO name only when it differs. `from Y (HELO X) (IP)` — qmail, and `from X (IP)` —
Microsoft Exchange / Office 365, the address bare in the comment. `by` names the server that added the header,
`with` the protocol, then `id`, `for` and `via`. A keyword counts only outside comments, so qmail's
`(qmail 1234 invoked from network)` has no from clause. Nothing here raises: what cannot be read is a problem.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from nohaven.tracing._email_date import clip

__all__ = ["ReceivedFields", "parse_address", "read_received", "split_date"]

_KEYWORDS = ("from", "by", "via", "with", "id", "for")
_BRACKETED = re.compile(r"\[(?:IPv6:)?(?P<ip>[0-9A-Za-z:.%_-]+)\](?::(?P<port>\d{1,5}))?", re.IGNORECASE)
_NAMED = re.compile(r"^(?:(?P<ident>[^\s@\[\]]+)@)?(?P<name>[^\s@\[\]()]+)\s+\[")
_HELO_EQ = re.compile(r"\bhelo=(?P<helo>[^\s)]+)", re.IGNORECASE)
_HELO_WORD = re.compile(r"^(?:HELO|EHLO)\s+(?P<helo>\S+)", re.IGNORECASE)
_PORT_EQ = re.compile(r"\bport=(?P<port>\d{1,5})\b", re.IGNORECASE)
_AUTH = re.compile(r"^Authenticated sender:\s*(?P<who>\S+)", re.IGNORECASE)
_QMAIL = re.compile(r"^qmail \d+ invoked (?P<how>from network|by uid \d+|by alias|for bounce)", re.IGNORECASE)


def parse_address(text: str) -> str | None:
    """The IP address a literal names (`192.0.2.1`, `IPv6:2001:db8::1`, `fe80::1%7`), normalised, or None;
    an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, as dual-stack servers log IPv4 clients) as its IPv4."""
    candidate = text.strip().strip("[]")
    if candidate.lower().startswith("ipv6:"):
        candidate = candidate[5:]
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)  # ::ffff:192.0.2.10 is the IPv4 host: IP data and carriers know it so
    return str(address)


@dataclass
class ReceivedFields:
    """What one Received header says, clause by clause, with what it could not say named in problems."""

    from_word: str | None = None
    from_host: str | None = None
    helo: str | None = None
    from_ip: str | None = None
    from_port: int | None = None
    ident: str | None = None
    by_host: str | None = None
    by_ip: str | None = None
    protocol: str | None = None
    smtp_id: str | None = None
    recipient: str | None = None
    via: str | None = None
    authenticated_sender: str | None = None
    server_says_forged: bool = False
    qmail: str | None = None
    problems: list[str] = field(default_factory=list)


def split_date(value: str) -> tuple[str, str | None]:
    """The clauses before the last `;` outside comments, and the date after it (None when there is no `;`)."""
    depth, last = 0, -1
    for position, char in enumerate(value):
        if char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif char == ";" and depth == 0:
            last = position
    if last < 0:
        return value, None
    return value[:last], value[last + 1:]


def _tokens(text: str, problems: list[str]) -> list[tuple[str, str]]:
    """Words and (nested) comments, in order; an unclosed comment runs to the end and is named."""
    tokens: list[tuple[str, str]] = []
    word, comment, depth, escaped = "", "", 0, False
    for char in text:
        if depth:
            if escaped:
                comment += char
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == "(":
                depth += 1
                comment += char
            elif char == ")":
                depth -= 1
                if depth:
                    comment += char
                else:
                    tokens.append(("comment", " ".join(comment.split())))
                    comment = ""
            else:
                comment += char
        elif char == "(":
            if word:
                tokens.append(("word", word))
                word = ""
            depth = 1
        elif char.isspace():
            if word:
                tokens.append(("word", word))
                word = ""
        elif char == ")":
            problems.append("a ')' closes no comment")
        else:
            word += char
    if word:
        tokens.append(("word", word))
    if depth:
        problems.append("unbalanced parenthesis: a comment is not closed")
        tokens.append(("comment", " ".join(comment.split())))
    return tokens


def _clauses(tokens: list[tuple[str, str]], fields: ReceivedFields) -> dict[str, list[tuple[str, str]]]:
    clauses: dict[str, list[tuple[str, str]]] = {}
    current = "leading"
    clauses[current] = []
    for kind, text in tokens:
        if kind == "word" and text.lower() in _KEYWORDS:
            current = text.lower()
            if current in clauses:
                fields.problems.append(f"a second '{current}' clause; the first is used")
                current = f"{current}#repeated"
            clauses[current] = []
        else:
            clauses[current].append((kind, text))
    return clauses


def _host(word: str | None) -> str | None:
    if not word:
        return None
    name = word.rstrip(".")
    return None if not name or name.lower() == "unknown" else name


def _read_tcp_info(parts: list[tuple[str, str]], fields: ReceivedFields) -> None:
    """Fill the sender's names and address from the comments of the from clause (the first says most)."""
    rdns: str | None = None
    shape = ""
    address_in_comment = False
    for kind, text in parts:
        if kind != "comment":
            continue
        if (helo := _HELO_EQ.search(text)) or (helo := _HELO_WORD.match(text)):
            fields.helo = fields.helo or helo.group("helo")
            shape = shape or "helo-named"
        if (port := _PORT_EQ.search(text)) and fields.from_port is None:
            fields.from_port = int(port.group("port"))
        if (auth := _AUTH.match(text)) and fields.authenticated_sender is None:
            fields.authenticated_sender = auth.group("who")
        if "may be forged" in text.lower():
            fields.server_says_forged = True
        if fields.from_ip is None and (literal := _BRACKETED.search(text)):
            address_in_comment = True
            fields.from_ip = parse_address(literal.group("ip"))
            if fields.from_ip is None:
                fields.problems.append(f"[{clip(literal.group('ip'))}] is not an IP address")
            if literal.group("port"):
                fields.from_port = int(literal.group("port"))
            if named := _NAMED.match(text):
                rdns, fields.ident = named.group("name"), named.group("ident")
                shape = shape or "rdns-in-comment"
        elif fields.from_ip is None and (bare := parse_address(text.split()[0] if text.split() else "")):
            address_in_comment = True
            fields.from_ip = bare
    word = fields.from_word
    word_ip = parse_address(word) if word else None
    if word_ip and fields.from_ip is None:
        fields.from_ip = word_ip
    if shape == "rdns-in-comment":  # Postfix, Sendmail, Gmail: from HELO (rDNS [IP])
        fields.helo = fields.helo or word
        fields.from_host = _host(rdns)
    else:  # Exim, qmail, Exchange: from NAME (... [IP] helo=HELO) / (HELO x) (IP) / (IP)
        fields.from_host = None if word_ip else _host(word)
        if shape == "" and fields.from_host and address_in_comment:  # Exim leaves out a HELO equal to the name
            fields.helo = fields.helo or word
    if fields.from_port is not None and not 0 < fields.from_port < 65536:
        fields.problems.append(f"port {fields.from_port} is not a TCP port")
        fields.from_port = None


def _first_word(parts: list[tuple[str, str]]) -> str | None:
    return next((text for kind, text in parts if kind == "word"), None)


def read_received(value: str) -> tuple[ReceivedFields, str | None]:
    """Read one unfolded Received header's value into its clauses, and return the date text after the last `;`."""
    fields = ReceivedFields()
    clause_text, date_text = split_date(value)
    if date_text is None:
        fields.problems.append("no ';' and so no date: the header may be truncated")
    clauses = _clauses(_tokens(clause_text, fields.problems), fields)
    leading = clauses.pop("leading")
    for kind, text in leading:
        if kind == "comment" and (qmail := _QMAIL.match(text)):
            fields.qmail = qmail.group("how")
        elif kind == "word":
            fields.problems.append(f"unexpected {clip(text)!r} before any from/by clause")
            break
    if "from" in clauses:
        parts = clauses["from"]
        fields.from_word = _first_word(parts)
        if fields.from_word is None:
            fields.problems.append("'from' names no host")
        _read_tcp_info(parts, fields)
    if "by" in clauses:
        parts = clauses["by"]
        word = _first_word(parts)
        word_ip = parse_address(word) if word else None
        fields.by_host = None if word_ip else _host(word)
        fields.by_ip = word_ip or next((ip for kind, text in parts if kind == "comment" and text.split()
                                        and (ip := parse_address(_BRACKETED.sub(r"\g<ip>", text.split()[0])))),
                                       None)
        if word is None:
            fields.problems.append("'by' names no host")
    elif fields.qmail is None:
        if "from" in clauses:
            fields.problems.append("no 'by' clause: the server that added this header does not name itself")
        else:
            fields.problems.append("neither a 'from' nor a 'by' clause: not a Received header this reader knows")
    if "with" in clauses:
        words: list[str] = []
        for kind, text in clauses["with"]:
            if kind != "word":
                break
            words.append(text)
        fields.protocol = " ".join(words) or None
    fields.smtp_id = _first_word(clauses.get("id", []))
    if recipient := _first_word(clauses.get("for", [])):
        fields.recipient = recipient.strip("<>;")
    fields.via = _first_word(clauses.get("via", []))
    return fields, date_text
