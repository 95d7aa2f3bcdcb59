"""The decision log's detail lines, beside the one-line decisions the daemon logs at info.

- At debug, for every unschedulable verdict (when its reason changes): the
  per-node table (node, first rejecting filter, reason), computed by the
  same function `preemptive-scheduler explain` uses, for the first
  `TABLE_NODES` nodes by name plus a count of the rest, so 5,000 nodes do not
  flood the log.  The info line before it already counts every node's reason.
- At info, `gang admitted` once when a gang this replica bound reaches its
  minimum with every placed member bound (as the API shows), naming the
  members and their nodes.  The `gang ... is PHASE` lines exist only for gangs
  declared by a PodGroup object and name no pods; this line is written for
  every gang, once per admission (again only after a roll-back).

With `--log-format json` the fields are keys of the line (`decision` is
`unschedulable_nodes` or `gang_admitted`).
"""
from __future__ import annotations

import logging
from typing import Dict, List, Set, Tuple

from scheduler.core.gang import RUNNING, SCHEDULED
from scheduler.core.loop import SchedulingLoop
from scheduler.core.model import Pod
from scheduler.core.whatif import WhatIf
from scheduler.logs import log_decision

TABLE_NODES = 20


def node_table(loop: SchedulingLoop, pod: Pod, limit: int = TABLE_NODES) -> Tuple[List[Dict[str, str]], int]:
    """(node, first rejecting filter, reason) for the first `limit` live nodes by name, and how many nodes there are."""
    ask = WhatIf(loop)
    total = len(ask.node_names())
    rows = [{"node": v["node"], "filter": v.get("rejected_by", ""), "reason": v.get("reason", "fits now")}
            for v in ask.verdicts(pod, limit=limit)]
    return rows, total


class DecisionLog:
    def __init__(self, logger: logging.Logger, loop: SchedulingLoop, table_nodes: int = TABLE_NODES) -> None:
        self.log = logger
        self.loop = loop
        self.table_nodes = table_nodes
        self._gang_of: Dict[str, str] = {}  # gang pod -> its gang
        self._members: Dict[str, Set[str]] = {}  # gang -> its pods the API shows
        self._bound: Dict[str, Dict[str, str]] = {}  # gang -> {member: node} as the API shows them bound
        self._binding: Set[str] = set()  # gangs we bound a member of, not admitted yet
        self._admitted: Set[str] = set()

    # ------------------------------------------------------------ unschedulable: the per-node table
    def unschedulable(self, key: str) -> None:
        """At debug: why each node refused the pod (called when its unschedulable reason changes)."""
        if not self.log.isEnabledFor(logging.DEBUG):
            return
        pod = self.loop.pending.get(key)
        if pod is None:
            return  # gone (or placed) since the verdict
        try:
            rows, total = node_table(self.loop, pod, self.table_nodes)
        except Exception:  # noqa: BLE001 - a debug detail must never stop the effects it accompanies
            self.log.debug("could not explain %s per node", key, exc_info=True)
            return
        omitted = max(0, total - len(rows))
        width = max([4] + [len(r["node"]) for r in rows])
        lines = [f"  {r['node']:<{width}}  {r['filter'] + ': ' if r['filter'] else ''}{r['reason']}" for r in rows]
        if omitted:
            lines.append(f"  ... and {omitted} more node(s) (`preemptive-scheduler explain {key}` lists them all)")
        log_decision(self.log, "unschedulable_nodes", "unschedulable %s, per node (first rejecting filter: reason), "
                     "%d of %d node(s):\n%s", key, len(rows), total, "\n".join(lines), level=logging.DEBUG,
                     pod=key, nodes=rows, nodes_total=total, nodes_omitted=omitted)

    # ------------------------------------------------------------ gangs: admitted
    def pod_seen(self, pod: Pod) -> None:
        """A pod as the API now shows it."""
        gang = pod.gang_name
        if not gang:
            return
        self._gang_of[pod.key] = gang
        self._members.setdefault(gang, set()).add(pod.key)
        members = self._bound.setdefault(gang, {})
        if pod.node_name:
            members[pod.key] = pod.node_name
            self._check(gang)
        else:
            members.pop(pod.key, None)

    def pod_gone(self, key: str) -> None:
        gang = self._gang_of.pop(key, None)
        if gang is None:
            return
        self._bound.get(gang, {}).pop(key, None)
        members = self._members.get(gang, set())
        members.discard(key)
        if not members:
            self._forget(gang)

    def bound(self, key: str) -> None:
        """The API accepted our binding of this pod."""
        gang = self._gang_of.get(key)
        if gang and gang not in self._admitted:
            self._binding.add(gang)
            self._check(gang)

    def housekeeping(self) -> None:
        """Settle gangs whose state changed without a pod event (once a second is plenty)."""
        for gang in list(self._binding):
            self._check(gang)
        for gang in list(self._admitted):
            summary = self.loop.gang_summary(gang)
            if summary is None or summary[0] not in (SCHEDULED, RUNNING):
                self._admitted.discard(gang)  # below its minimum again (rolled back): a new admission is logged

    def _check(self, gang: str) -> None:
        if gang not in self._binding or gang in self._admitted:
            return
        summary = self.loop.gang_summary(gang)
        if summary is None:
            self._binding.discard(gang)
            return
        state, _, minimum = summary
        if state != RUNNING:  # Running: at least the minimum placed, and every placed member bound
            return
        self._binding.discard(gang)
        self._admitted.add(gang)
        members = sorted(self._bound.get(gang, {}).items())
        listed = ", ".join(f"{pod} on {node}" for pod, node in members)
        log_decision(self.log, "gang_admitted", "gang admitted %s: minimum %d reached, %d member(s) bound: %s",
                     gang, minimum, len(members), listed, gang=gang, min_available=minimum,
                     members=[{"pod": pod, "node": node} for pod, node in members])

    def _forget(self, gang: str) -> None:
        self._members.pop(gang, None)
        self._bound.pop(gang, None)
        self._binding.discard(gang)
        self._admitted.discard(gang)
