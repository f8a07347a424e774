"""One reconciler per kernel object type, in dependency order."""

from kumo.dataplane.reconcilers.addresses import AddressReconciler
from kumo.dataplane.reconcilers.base import Reconciler
from kumo.dataplane.reconcilers.fdb import BridgeFdbReconciler, VxlanFdbReconciler
from kumo.dataplane.reconcilers.firewall import FirewallReconciler
from kumo.dataplane.reconcilers.guests import GuestReconciler
from kumo.dataplane.reconcilers.hostnames import HostnameReconciler
from kumo.dataplane.reconcilers.links import LinkReconciler
from kumo.dataplane.reconcilers.masters import MasterReconciler
from kumo.dataplane.reconcilers.nat import NatReconciler
from kumo.dataplane.reconcilers.neighbours import NeighbourReconciler
from kumo.dataplane.reconcilers.netns import NetnsReconciler
from kumo.dataplane.reconcilers.routes import RouteReconciler
from kumo.dataplane.reconcilers.rules import RuleReconciler
from kumo.dataplane.reconcilers.sysctls import SysctlReconciler

__all__ = [
    "AddressReconciler",
    "BridgeFdbReconciler",
    "FirewallReconciler",
    "GuestReconciler",
    "HostnameReconciler",
    "LinkReconciler",
    "MasterReconciler",
    "NatReconciler",
    "NeighbourReconciler",
    "NetnsReconciler",
    "Reconciler",
    "RouteReconciler",
    "RuleReconciler",
    "SysctlReconciler",
    "VxlanFdbReconciler",
]
