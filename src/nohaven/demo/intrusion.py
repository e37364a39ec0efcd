"""`nohaven demo --scenario intrusion`: a trace across three demo nodes, driven through their HTTP APIs as the
officers would drive it, printing each step.

A victim's server in XA logged an intrusion from 198.51.100.23:51515 at 03:14:07 (Paris time, written with its
zone abbreviation). XA's officer opens a trace; the hop resolves to Borvania VPN Services in XB; the preservation
and Art. 30 disclosure requests are filed from the hop to XB's node. XB's officer acknowledges, preserves and
answers with a `nohaven-disclosure/1` document naming the VPN session's source, 203.0.113.77:4431; XA's trace
gains that hop from the delivery; it resolves to Celestia Mobile's CGNAT in XC; requests go to XC. XC's officer
runs the carrier toolkit on the carrier's NAT and RADIUS logs (`nohaven carrier ingest`, `nohaven carrier lookup
--json`) and attaches the lookup answer; XA's trace marks the origin: subscriber identified.

The victim's log line is dated four days before the run, so every retention deadline is ahead whatever day the
demo runs (the demo registry data gives 198.51.100.0/24 to XB from its 2026-10-01 snapshot on), and the carrier
logs are moved to that day (`nohaven.demo.carrier.logs_for`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from nohaven.demo.carrier import logs_for
from nohaven.demo.network import DemoNode
from nohaven.demo.scenario import Say, _Officer, _wait
from nohaven.errors import ConflictError
from nohaven.timeutil import utcnow

__all__ = ["IntrusionWalk", "observed_at", "run_intrusion"]

VICTIM_ZONE = ZoneInfo("Europe/Paris")
VPN_EXIT = ("198.51.100.23", 51515)
VPN_SOURCE = ("203.0.113.77", 4431)
ANSWERED = ("Preserved", "Disclosed")


def observed_at(now: datetime) -> datetime:
    """The intrusion's instant: 03:14:07 on the victim's clock (Paris), four days before `now`."""
    day = (now.astimezone(VICTIM_ZONE) - timedelta(days=4)).date()
    return datetime(day.year, day.month, day.day, 3, 14, 7, tzinfo=VICTIM_ZONE)


class IntrusionWalk:
    """The scenario's steps, each returning what the officer sees then (the three-State test checks each)."""

    def __init__(self, nodes: Sequence[DemoNode], say: Say, *, now: datetime | None = None) -> None:
        self.a, self.b, self.c = nodes[0], nodes[1], nodes[2]
        self.say = say
        self.local = observed_at(now or utcnow())
        self.instant = self.local.astimezone(UTC)
        self.officers = {n.state: _Officer(n, "olga") for n in (self.a, self.b, self.c)}
        self.reference = ""

    def close(self) -> None:
        """Close the officers' HTTP clients."""
        for officer in self.officers.values():
            officer.close()

    def _trace(self) -> dict[str, Any]:
        view: dict[str, Any] = self.officers[self.a.state].call("GET", f"/traces/{self.reference}")
        return view

    def _hop(self, label: str) -> dict[str, Any] | None:
        return next((h for h in self._trace()["hops"] if h["label"] == label), None)

    def open_trace(self) -> dict[str, Any]:
        """XA's officer opens the trace from the victim's log line; its first hop is resolved at once."""
        written = f"{self.local:%Y-%m-%d %H:%M:%S} {self.local.tzname()}"
        self.say(f"1. {self.a.state}'s officer opens a trace: the victim's web server logged an intrusion from "
                 f"{VPN_EXIT[0]}:{VPN_EXIT[1]} at {written}")
        view: dict[str, Any] = self.officers[self.a.state].call("POST", "/traces", json={
            "title": "Intrusion at the Aldor General Hospital (demo)", "offence": "Illegal access (Budapest Art. 2)",
            "summary": "Illustrative demo case: the hospital's web server was entered and patient records were "
                       "copied; the intruder connected from abroad.",
            "observations": [{"ip": VPN_EXIT[0], "port": VPN_EXIT[1], "protocol": "tcp", "time_text": written,
                              "uncertainty": "PT1S", "seen_where": "victim web server access log"}]})
        self.reference = view["reference"]
        h1 = view["hops"][0]
        res = h1["resolution"] or {}
        record, poc = res.get("record") or {}, res.get("point_of_contact") or {}
        if h1["responsible_state"] != self.b.state:
            raise ConflictError(f"{VPN_EXIT[0]} resolved to {h1['responsible_state']} rather than "
                                f"{self.b.state}: {'; '.join(res.get('problems') or [])} (the demo's registry data "
                                "gives it to XB from 2026-10-01: is this machine's clock right?)")
        self.say(f"   {self.reference} in case {view['case']}: H1 is {record.get('holder')} (prefix "
                 f"{record.get('prefix')}, AS{record.get('asn')}, {record.get('registry')} snapshot "
                 f"{record.get('rir_snapshot')}) in {h1['responsible_state']}; point of contact {poc.get('agency')}"
                 f" ({', '.join(poc.get('phones') or [])}); traffic data kept {res.get('traffic_retention')}, "
                 f"likely deleted after {h1['likely_deleted_after']} ({h1['urgency']})")
        return view

    def file_requests(self, label: str, to: DemoNode, step: int) -> list[dict[str, Any]]:
        """XA's officer drafts the hop's requests (the time three ways) and files them to `to` by the platform;
        returns XA's requests once `to`'s node has receipted each."""
        officer = self.officers[self.a.state]
        draft = officer.call("GET", f"/traces/{self.reference}/hops/{label}/draft")
        t = draft["time"]
        self.say(f"{step}. {self.a.state}'s officer drafts {label}'s requests: "
                 + " and ".join(d["kind"].replace("_", " ") for d in draft["drafts"])
                 + f" to {draft['requested_state']}, the time as written \"{t['source_text']}\", UTC "
                 f"{' or '.join(t['utc'])}, {t['requested_time_zone']} {' or '.join(t['requested_local'])}")
        filed = officer.call("POST", f"/traces/{self.reference}/hops/{label}/requests", json={})["requests"]
        self.say("   filed in one click: " + ", ".join(f"{r['reference']} ({r['type'].replace('_', ' ')}, "
                                                       f"{r['channel']})" for r in filed))

        def receipted() -> Any:
            views = [officer.call("GET", f"/requests/{r['id']}") for r in filed]
            return views if all(v["their_reference"] for v in views) else None
        views: list[dict[str, Any]] = _wait(f"{to.state}'s receipts for {label}'s requests", receipted)
        self.say(f"   {to.state}'s node receipted them as " + ", ".join(v["their_reference"] for v in views))
        return views

    def _take(self, node: DemoNode, ours: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """`node`'s officer finds the requests on the 24/7 desk and acknowledges them; by type."""
        officer = self.officers[node.state]
        wanted = {v["their_reference"]: v["type"] for v in ours}

        def on_desk() -> Any:
            rows = [r for r in officer.call("GET", "/requests", params={"open": "true"})
                    if r["reference"] in wanted]
            return rows if len(rows) == len(wanted) else None
        rows = _wait(f"{', '.join(wanted)} on {node.state}'s desk", on_desk)
        for row in rows:
            officer.call("POST", f"/requests/{row['id']}/acknowledge")
        return {r["type"]: officer.call("GET", f"/requests/{r['id']}") for r in rows}

    def _answer(self, node: DemoNode, incoming: dict[str, dict[str, Any]], name: str, document: bytes,
                note: str) -> None:
        officer = self.officers[node.state]
        preservation, disclosure = incoming["preservation"], incoming["traffic_disclosure"]
        officer.call("POST", f"/requests/{preservation['id']}/transitions", json={"to": "Preserved", "note": note})
        officer.call("POST", f"/requests/{disclosure['id']}/transitions",
                     json={"to": "AwaitingDisclosure", "note": "approved for expedited disclosure (Art. 30)"})
        officer.call("POST", f"/requests/{disclosure['id']}/attachments", params={"name": name}, content=document,
                     headers={"content-type": "application/json"})
        officer.call("POST", f"/requests/{disclosure['id']}/transitions", json={"to": "Disclosed", "note": note})

    def vpn_answers(self, ours: list[dict[str, Any]]) -> dict[str, Any]:
        """XB's officer acknowledges, preserves, and answers the disclosure with a nohaven-disclosure/1 document."""
        incoming = self._take(self.b, ours)
        self.say(f"3. {self.b.state}'s node verified both envelopes against the signed directory: "
                 + ", ".join(f"{v['reference']} ({v['type'].replace('_', ' ')}, {v['status']})"
                             for v in incoming.values()) + f" are on {self.b.state}'s 24/7 desk")
        self.say(f"4. {self.b.state}'s officer acknowledges both; Borvania VPN Services preserves the session "
                 "records")
        source = f"{VPN_SOURCE[0]}:{VPN_SOURCE[1]}"
        at = self.instant.strftime("%Y-%m-%dT%H:%M:%SZ")
        document = {"format": "nohaven-disclosure/1", "request": incoming["traffic_disclosure"]["their_reference"],
                    "next_hops": [{"ip": VPN_SOURCE[0], "port": VPN_SOURCE[1], "protocol": "tcp", "time": at,
                                   "uncertainty": "PT1S", "note": "source of the VPN session"}],
                    "subscriber": None, "dead_end": None,
                    "note": f"that address was a VPN exit; the session came from {source} at {at[11:]}"}
        body = json.dumps(document, indent=2).encode()
        self._answer(self.b, incoming, "xb-disclosure.json", body, "Borvania VPN Services: session records kept")
        self.say(f"   {self.b.state}'s officer marks the preservation Preserved and the disclosure Disclosed, "
                 f"attaching xb-disclosure.json (nohaven-disclosure/1): \"{document['note']}\"")
        return document

    def next_hop_arrives(self) -> dict[str, Any]:
        """XA's trace gains H2 from the delivered document, resolved on arrival by XA's node (or, should that have
        failed, by XA's officer)."""
        hop: dict[str, Any] = _wait(f"H2 on {self.reference}", lambda: self._hop("H2"))
        self.say(f"5. {self.a.state}'s trace gained H2 {hop['endpoint']} by itself, from the {hop['source']}")
        who = "it was resolved on arrival"
        if hop["resolution"] is None:  # resolution on arrival failed: the officer resolves it
            hop = self.officers[self.a.state].call("POST", f"/traces/{self.reference}/hops/H2/resolve")
            who = f"{self.a.state}'s officer resolves it"
        res = hop["resolution"] or {}
        record, poc = res.get("record") or {}, res.get("point_of_contact") or {}
        if hop["responsible_state"] != self.c.state:
            raise ConflictError(f"{hop['endpoint']} resolved to {hop['responsible_state']}, not {self.c.state}")
        self.say(f"   {who}: {record.get('holder')} in {hop['responsible_state']}; point of contact "
                 f"{poc.get('agency')}; traffic data kept {res.get('traffic_retention')}")
        return hop

    def carrier_answers(self, ours: list[dict[str, Any]], workdir: Path) -> dict[str, Any]:
        """XC's officer takes the requests and runs the carrier toolkit on Celestia Mobile's logs; the lookup
        answer is attached to the disclosure request."""
        incoming = self._take(self.c, ours)
        item = incoming["traffic_disclosure"]["data_items"][0]
        start, end = (datetime.fromisoformat(item[k]) for k in ("time_from_utc", "time_to_utc"))
        at, half = start + (end - start) / 2, (end - start) / 2
        ip, _, port = item["value"].rpartition(":")
        self.say(f"7. {self.c.state}'s officer acknowledges both; the request asks for {item['value']} from "
                 f"{item['time_from']} to {item['time_to']} ({self.c.state}'s local time)")
        logs = logs_for(self.instant, workdir / "logs")
        store = workdir / "store"
        ingest = self._carrier("ingest", "--store", str(store), "--json", *map(str, logs))
        self.say(f"   nohaven carrier ingest: {ingest['records']} records from {len(logs)} files "
                 f"({', '.join(f['format'] for f in ingest['files'])}), {ingest['rejects']} rejected")
        answer = self._carrier("lookup", "--store", str(store), "--ip", ip, "--port", port, "--at",
                               at.isoformat(), "--window", f"{int(half.total_seconds() * 1000)}ms", "--json")
        candidates = answer["candidates"]
        who = [s.get("subscriber") for c in candidates for s in c.get("subscribers") or []]
        self.say(f"   nohaven carrier lookup --json: {len(candidates)} candidate(s), ambiguous "
                 f"{answer['ambiguous']}: private {', '.join(str(c['private_ip']) for c in candidates)} held by "
                 f"{', '.join(str(w) for w in who)}")
        self._answer(self.c, incoming, "xc-carrier-lookup.json", json.dumps(answer, indent=1).encode(),
                     "Celestia Mobile: NAT and RADIUS records preserved")
        self.say(f"   {self.c.state}'s officer attaches xc-carrier-lookup.json to the disclosure and marks it "
                 "Disclosed")
        return answer

    def _carrier(self, *args: str) -> dict[str, Any]:
        done = subprocess.run([sys.executable, "-m", "nohaven.cli.main", "carrier", *args], capture_output=True,
                              text=True, timeout=300, check=False)
        if done.returncode not in (0, 3):  # 3: an ambiguous answer, still an answer
            raise ConflictError(f"nohaven carrier {args[0]} exited {done.returncode}: {done.stderr[-1000:]}")
        value: dict[str, Any] = json.loads(done.stdout)
        return value

    def origin_found(self) -> dict[str, Any]:
        """XA's trace marks the origin; the final chain with each hop's evidence."""
        def found() -> Any:  # the answer and the statuses travel as separate messages: wait for both
            view = self._trace()
            settled = all(r["status"] in ANSWERED for h in view["hops"] for r in h["requests"])
            return view if view["status"] == "origin_found" and settled else None
        view: dict[str, Any] = _wait(f"the origin on {self.reference} and every request answered", found)
        h2 = next(h for h in view["hops"] if h["label"] == "H2")
        self.say(f"8. {self.a.state}'s trace marks H2 the origin: subscriber "
                 f"{(h2['subscriber'] or {}).get('identity')} of {self.c.state} (private address "
                 f"{(h2['subscriber'] or {}).get('private_ip')}); trace {view['status'].replace('_', ' ')}")
        for hop in view["hops"]:
            evidence = ", ".join(f"{e['name']} on {e['request']}" for e in hop["evidence"]) or "none"
            self.say(f"   {hop['label']} {hop['endpoint']} {hop['responsible_state']} {hop['status']}: "
                     + ", ".join(f"{r['reference']} {r['status']}" for r in hop["requests"])
                     + f"; evidence {evidence}")
        return view


def run_intrusion(nodes: Sequence[DemoNode], say: Say, workdir: Path) -> dict[str, Any]:
    """Drive the whole chain XA → XB → XC; returns XA's final trace view."""
    walk = IntrusionWalk(nodes, say)
    try:
        walk.open_trace()
        to_b = walk.file_requests("H1", walk.b, 2)
        walk.vpn_answers(to_b)
        walk.next_hop_arrives()
        to_c = walk.file_requests("H2", walk.c, 6)
        walk.carrier_answers(to_c, workdir)
        view = walk.origin_found()
        say(f"\nThe whole chain: open {walk.a.url}/traces/{walk.reference} as olga to see the graph and timeline.")
        return view
    finally:
        walk.close()
