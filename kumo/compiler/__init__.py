"""The compiler: a pure function from the agent's cached objects to one host's
desired kernel state.

Input: ``ClusterView`` (``model.py``), built from the watch feed's Neutron
admin bodies. Output: ``HostPlan`` (``plan.py``), frozen sets of namespaces,
links, addresses, routes, neighbour and FDB entries plus per-port plumbing
and wiring requirements. ``compile_host`` (``compile.py``) does no I/O; kernel
object names come from ``names.py`` only.
"""

from kumo.compiler.compile import compile_host
from kumo.compiler.model import ClusterView, HostView, NetworkView, PortView, SubnetView
from kumo.compiler.plan import HOST_NS, HostPlan

__all__ = [
    "HOST_NS",
    "ClusterView",
    "HostPlan",
    "HostView",
    "NetworkView",
    "PortView",
    "SubnetView",
    "compile_host",
]
