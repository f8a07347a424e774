"""Policy routing rules in router namespaces (every rule there but the
kernel's three defaults is kumo's: router namespaces are kumo's alone)."""

from __future__ import annotations

from collections.abc import Iterable

from kumo.compiler.plan import HOST_NS, PolicyRule
from kumo.dataplane.reconcilers.keyed import KeyedReconciler


class RuleReconciler(KeyedReconciler[PolicyRule]):
    name = "rules"
    per_device = False
    reads_managed_links = False
    stale_same_key = True

    def scopes(self) -> set[str]:
        return {o.netns for o in self.desired} - {HOST_NS}

    def read(self, netns: str) -> Iterable[PolicyRule]:
        return self.port.list_rules(netns)

    def owned(self, obj: PolicyRule) -> bool:
        return obj.netns != HOST_NS

    def write(self, obj: PolicyRule) -> None:
        # A rule with the same priority but another match or table is in the
        # way: take it out first (priorities are the rules' identity here).
        for actual in self.port.list_rules(obj.netns):
            if actual.priority == obj.priority and actual != obj:
                self.port.del_rule(actual)
        self.port.add_rule(obj)

    def remove(self, obj: PolicyRule) -> None:
        self.port.del_rule(obj)
