"""Filters: each says why a pool cannot take a request (None: it can).

Capacity follows thin provisioning the way Cinder's capacity filter
does: a thin pool takes a volume while its provisioned capacity with the
volume stays within ``max_over_subscription_ratio`` times its total and
the free space left above the reserved part, multiplied by that ratio,
holds the volume; a thick pool needs the volume's size free above the
reserved part.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kumo.volume.scheduler.model import PoolState, Request

Filter = Callable[[PoolState, Request], str | None]


def host_up(pool: PoolState, request: Request) -> str | None:
    return None if pool.up else "its storage host is down or disabled"


def same_pool(pool: PoolState, request: Request) -> str | None:
    if request.pool is None or request.pool == (pool.host, pool.pool):
        return None
    return f"the source lies in pool {request.pool[1]} of {request.pool[0]}"


def same_host(pool: PoolState, request: Request) -> str | None:
    if request.host is None or request.host == pool.host:
        return None
    return f"the volume's group has its volumes on {request.host}"


def availability_zone(pool: PoolState, request: Request) -> str | None:
    if request.zone is None or request.zone == pool.zone:
        return None
    return f"it is in availability zone {pool.zone}, not {request.zone}"


def capacity(pool: PoolState, request: Request) -> str | None:
    if pool.total_gb <= 0:
        return "it reports no capacity"
    reserved = pool.total_gb * pool.reserved_percentage / 100.0
    free = pool.free_gb - reserved
    if pool.thin and pool.max_over_subscription_ratio >= 1:
        provisioned = (pool.allocated_gb + request.size) / pool.total_gb
        if provisioned > pool.max_over_subscription_ratio:
            return (
                f"provisioning {request.size} GiB more would make it "
                f"{provisioned:.2f} times its capacity (at most "
                f"{pool.max_over_subscription_ratio:g})"
            )
        if free * pool.max_over_subscription_ratio < request.size:
            return f"{max(free, 0):.2f} GiB free above its reserve is too little"
        return None
    if free < request.size:
        return f"{max(free, 0):.2f} GiB free above its reserve, {request.size} GiB asked"
    return None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def spec_matches(wanted: str, have: str) -> bool:
    """A volume type's extra spec value against a capability, with Cinder's
    operators: ``<is> True``, ``<in> part``, ``<or> a <or> b``, ``s==``,
    ``s!=``, ``==``, ``!=``, ``>=``, ``<=`` (numbers) and plain equality."""
    words = wanted.split()
    if not words:
        return have == wanted
    op = words[0]
    rest = " ".join(words[1:])
    if op == "<is>":
        return have.strip().lower() == rest.lower()
    if op == "<in>":
        return rest in have
    if op == "<or>":
        options = [w.strip() for w in wanted.split("<or>") if w.strip()]
        return have in options
    if op in ("s==", "s!="):
        return (have == rest) == (op == "s==")
    if op in ("==", "!=", ">=", "<="):
        a, b = _number(have), _number(rest)
        if a is None or b is None:
            return False
        return {"==": a == b, "!=": a != b, ">=": a >= b, "<=": a <= b}[op]
    return have == wanted


REPLICATION_SPEC = "replication_enabled"


def wants_replication(extra_specs: Mapping[str, str]) -> bool:
    """The volume type asks for replication (Cinder's ``replication_enabled='<is> True'``)."""
    for key in (REPLICATION_SPEC, f"capabilities:{REPLICATION_SPEC}"):
        if key in extra_specs:
            return spec_matches(str(extra_specs[key]), "True")
    return False


def capabilities(pool: PoolState, request: Request) -> str | None:
    """Every unscoped or ``capabilities:`` scoped extra spec must match the
    pool's capability of that name (specs of other scopes, ``qos:`` or
    ``provisioning:``, are for others). ``replication_enabled`` is not a
    pool's capability here: every pool can hold a primary or a replica, and
    ``place_pair`` finds the second host."""
    for key, wanted in sorted(request.extra_specs.items()):
        if ":" in key:
            scope, _, name = key.partition(":")
            if scope != "capabilities":
                continue
        else:
            name = key
        if name == REPLICATION_SPEC:
            continue
        have = pool.capabilities.get(name)
        if have is None:
            return f"it has no capability {name} (the volume type asks {wanted!r})"
        if not spec_matches(str(wanted), str(have)):
            return f"its {name} is {have!r}, the volume type asks {wanted!r}"
    return None


FILTERS: tuple[Filter, ...] = (
    host_up,
    same_pool,
    same_host,
    availability_zone,
    capacity,
    capabilities,
)
