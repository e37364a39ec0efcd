"""Demo data: the sample directory, a supervisors' rota, demo users and requests at every clock stage.

Demo mode only: passwords and TOTP secrets here are public by design and refused by nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from nohaven.auth import service as users
from nohaven.auth.models import User
from nohaven.auth.service import subject_of
from nohaven.directory import service as directory
from nohaven.directory.models import Agency, Contact, OnCallShift
from nohaven.errors import ConfigError
from nohaven.node import Node
from nohaven.requests import service as requests
from nohaven.requests.escalation import tick
from nohaven.timeutil import utcnow

SAMPLE = Path(__file__).with_name("sample_directory.yaml")
DEMO_STATE = "XA"


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    password: str
    totp_secret: str
    display_name: str


DEMO_USERS = (
    DemoUser("olga", "officer", "demo-officer-olga", "NOHAVENDEMOOLGAOFFICER22", "Olga Varga (24/7 officer)"),
    DemoUser("sam", "supervisor", "demo-supervisor-sam", "NOHAVENDEMOSAMSUPERVISOR", "Sam Ilunga (supervisor)"),
    DemoUser("cara", "central_authority", "demo-central-cara", "NOHAVENDEMOCARACENTRAL23", "Cara Nilsen (MoJ)"),
    DemoUser("aldo", "auditor", "demo-auditor-aldo", "NOHAVENDEMOALDOAUDITOR34", "Aldo Reyes (auditor)"),
    DemoUser("ada", "admin", "demo-admin-ada-pass", "NOHAVENDEMOADAADMIN4567", "Ada Admin"),
)


def seed(node: Node, state: str = DEMO_STATE) -> tuple[DemoUser, ...]:
    """Prepare a demo node of `state` once (XA's comes with requests at every clock stage; the others start
    empty); on later starts only renew the on-call rota."""
    if not node.settings.demo_mode:
        raise ConfigError("demo data is only for demo mode")
    now = utcnow()
    with node.work() as session:
        first_run = session.execute(select(User.id).limit(1)).first() is None
        if first_run:
            directory.import_document(session, directory.load_document(SAMPLE), actor="demo")
            agency = session.execute(select(Agency.name).where(Agency.state_code == state, Agency.point_of_contact)
                                     .order_by(Agency.id).limit(1)).scalar_one()
            directory.set_node_identity(session, state, agency)
            for demo in DEMO_USERS:
                user = users.add_user(session, username=demo.username, role=demo.role, password=demo.password,
                                      actor="demo", display_name=demo.display_name,
                                      email=f"{demo.username}@node.{state.lower()}.example")
                users.set_totp_secret(user, node.settings, demo.totp_secret)
                user.totp_enabled = True
        _renew_rota(session, now)
    if first_run and state == DEMO_STATE:
        _seed_requests(node, now)
        with node.work() as session:
            tick(session)
    return DEMO_USERS


def _renew_rota(session: Any, now: datetime) -> None:
    """Twelve-hour supervisor shifts from yesterday to two weeks ahead, alternating the two XA supervisors."""
    supervisors = list(session.execute(
        select(Contact).where(Contact.key.in_(("xa-sup-lind", "xa-sup-okafor"))).order_by(Contact.key)).scalars())
    if not supervisors:
        return
    session.execute(delete(OnCallShift).where(OnCallShift.contact_id.in_([c.id for c in supervisors])))
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=now.hour % 12 + 12)
    for i in range(30):
        contact = supervisors[i % len(supervisors)]
        session.add(OnCallShift(contact_id=contact.id, role="supervisor", starts_at=start + timedelta(hours=12 * i),
                                ends_at=start + timedelta(hours=12 * (i + 1))))


def _authority(org: str, officer: str, phone: str, tz: str, channel: str) -> dict[str, Any]:
    return {"organisation": org, "officer": officer, "phones": [phone], "time_zone": tz,
            "preferred_channel": channel, "email": "duty@example.org", "office_hours": "24/7"}


def _base(kind: str, channel: str, priority: str, state: str, *, offence: str, received: datetime,
          items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    authorities = {
        "XB": _authority("Borvanian Federal Police, 24/7 Cyber Desk (fictional)", "Insp. K. Adler", "+15555550200",
                         "Europe/Berlin", "voice"),
        "XC": _authority("Calderra High-Tech Crime Office (fictional)", "Sgt. R. Moana", "+15555550300",
                         "Pacific/Auckland", "email"),
        "XD": _authority("Dunmere Prosecution Service (fictional)", "Pros. J. Whitfield", "+15555550400",
                         "America/Chicago", "platform"),
        "XA": _authority("Aldorian National Cybercrime Unit (fictional)", "Olga Varga", "+15555550100",
                         "Europe/Paris", "platform"),
    }
    body: dict[str, Any] = {
        "type": kind, "channel": channel, "priority": priority, "requesting_state": state,
        "received_at": received.isoformat(), "request_date": received.isoformat(),
        "requested_authority": "Aldorian National Cybercrime Unit (fictional)",
        "requesting_authority": authorities[state], "confirmation_contact": "duty desk, same phone",
        "investigating_authority": f"{authorities[state]['organisation']}", "offence": offence,
        "summary_of_facts": f"Illustrative demo case: {offence.lower()}.", "data_items": items,
        "link_to_offence": "The account was used to commit the offence.", "custodian": "Examplenet ISP (fictional)",
        "preservation_reason": "Traffic data is deleted after the retention period.", "mla_to_follow": True,
        "their_reference": f"{state}-247-{received:%y%m%d%H%M}",
    }
    body.update(extra)
    return body


def _seed_requests(node: Node, now: datetime) -> None:
    h = timedelta(hours=1)
    d = timedelta(days=1)
    with node.work() as session:
        olga = subject_of(users.get_user(session, "olga"))
        plans: list[tuple[dict[str, Any], datetime, list[str]]] = [
            # Phoned in two hours ago, nobody acknowledged: escalated to the supervisor on call.
            (_base("preservation", "voice", "urgent", "XB", offence="Ransomware attack on a hospital",
                   received=now - 2 * h,
                   items=[{"identifier_type": "ip_port", "value": "198.51.100.23:51515", "data_category": "traffic",
                           "time_from": (now - 3 * d).astimezone().isoformat(timespec="seconds"),
                           "time_to": (now - 3 * d + h).astimezone().isoformat(timespec="seconds")}]),
             now - 2 * h, []),
            # E-mailed yesterday; its traffic data is about to pass the carriers' retention period.
            (_base("preservation", "email", "normal", "XC", offence="Business e-mail compromise",
                   received=now - 20 * h,
                   items=[{"identifier_type": "email", "value": "ceo.payments@mail.example", "data_category": "traffic",
                           "time_from": (now - 178 * d).isoformat(timespec="seconds"),
                           "time_to": (now - 170 * d).isoformat(timespec="seconds")}]),
             now - 20 * h, []),
            # Preserved fifty days ago: extension and MLA follow-up clocks are running out.
            (_base("preservation", "platform", "normal", "XD", offence="Sextortion of minors",
                   received=now - 50 * d,
                   items=[{"identifier_type": "account", "value": "user:darkstar_77@chat.example",
                           "data_category": "content"}]),
             now - 50 * d, ["acknowledge", "Preserved"]),
            # Traffic data for the next hop, half an hour old.
            (_base("traffic_disclosure", "platform", "urgent", "XB", offence="Intrusion into a power utility",
                   received=now - timedelta(minutes=30),
                   items=[{"identifier_type": "ip_port", "value": "203.0.113.77:4431", "data_category": "traffic",
                           "time_from": "2026-11-27T02:14:07Z", "time_to": "2026-11-27T02:14:09Z"}]),
             now - timedelta(minutes=30), []),
            # Subscriber information being gathered.
            (_base("subscriber", "email", "normal", "XC", offence="Online fraud",
                   received=now - 3 * d,
                   items=[{"identifier_type": "phone", "value": "+15555550999", "data_category": "subscriber"}]),
             now - 3 * d, ["acknowledge", "confirm", "AwaitingDisclosure"]),
        ]
        for body, received, steps in plans:
            req = requests.create_request(session, olga, body, now=received)
            at = received + timedelta(minutes=20)
            for step in steps:
                if step == "acknowledge":
                    requests.acknowledge(session, olga, req.id, now=at)
                elif step == "confirm":
                    requests.confirm_written(session, olga, req.id, "signed letter by e-mail", now=at)
                else:
                    requests.transition(session, olga, req.id, step, "demo", now=at)
                at += timedelta(minutes=20)
            requests.refresh_clocks(session, req, now)
