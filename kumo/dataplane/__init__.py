"""The dataplane: brings one host's kernel in line with its HostPlan.

Input: ``kumo.compiler.HostPlan``. Output: kernel state (namespaces, links,
addresses, routes, neighbour and FDB entries) and ``ApplyResult`` (which
ports are wired). ``driver.Dataplane`` runs one reconciler per object type
(``reconcilers/``) over ``port.KernelPort``, which wraps either the netlink
adapter (``kernel.KernelAdapter``) or the in-memory ``fake.FakeKernel``.

Creating the real thing for a host (``host_netns`` None = this process's
namespace)::

    dp = Dataplane.for_host("host-a", host_netns="kh-host-a")
    result = dp.apply(compile_host("host-a", view))
"""

from kumo.dataplane.driver import ApplyResult, Dataplane, DataplaneSettings

__all__ = ["ApplyResult", "Dataplane", "DataplaneSettings"]
