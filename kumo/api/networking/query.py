"""Neutron list mechanics: filters, fields, sorting, pagination links.

Pure functions over rendered items (dicts), so every collection behaves the
same: ``?name=a&name=b`` means either name, ``fields=`` trims the output,
``sort_key``/``sort_dir`` pairs order it, ``limit``/``marker``/
``page_reverse`` page it with ``<collection>_links``. Filter keys that are
not attributes of the collection are refused (Neutron's filter validation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from starlette.responses import Response

from kumo.api.render import ItemJson, json_list_response, json_response
from kumo.errors import BadRequest, InvalidInput, shown
from kumo.network.validate import boolean_value

RESERVED = {"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse"}
TAG_FILTERS = {"tags", "tags-any", "not-tags", "not-tags-any"}
# Filters Neutron accepts although they are not plain attributes.
EXTRA_FILTERS = {"ip_address", "subnet_id", "fixed_ips"}


@dataclass(frozen=True)
class ListQuery:
    filters: dict[str, list[str]] = field(default_factory=dict)
    tag_filters: dict[str, list[str]] = field(default_factory=dict)
    fields: tuple[str, ...] = ()
    sort: tuple[tuple[str, bool], ...] = ()
    """(key, ascending) pairs."""
    limit: int | None = None
    marker: str | None = None
    page_reverse: bool = False


def parse_list_query(params: list[tuple[str, str]]) -> ListQuery:
    filters: dict[str, list[str]] = {}
    tags: dict[str, list[str]] = {}
    fields: list[str] = []
    keys: list[str] = []
    dirs: list[str] = []
    limit = None
    marker = None
    page_reverse = False
    for key, value in params:
        if key == "fields":
            fields.extend(f for f in value.split(",") if f)
        elif key == "sort_key":
            keys.append(value)
        elif key == "sort_dir":
            if value not in ("asc", "desc"):
                raise BadRequest(
                    f"{value} is an invalid value for sort_dir, valid value is 'asc' and 'desc'"
                )
            dirs.append(value)
        elif key == "limit":
            try:
                limit = int(value)
            except ValueError as exc:
                raise BadRequest(
                    f"Limit must be an integer 0 or greater and not '{value}'"
                ) from exc
            if limit < 0:
                raise BadRequest(f"Limit must be an integer 0 or greater and not '{value}'")
            limit = limit or None
        elif key == "marker":
            marker = value
        elif key == "page_reverse":
            page_reverse = value.lower() == "true"
        elif key in TAG_FILTERS:
            tags.setdefault(key, []).extend(t for t in value.split(",") if t)
        else:
            filters.setdefault(key, []).append(value)
    if dirs and len(dirs) != len(keys):
        raise BadRequest("The number of sort_keys and sort_dirs must be same")
    sort = tuple((k, (dirs[i] if dirs else "asc") == "asc") for i, k in enumerate(keys))
    return ListQuery(filters, tags, tuple(fields), sort, limit, marker, page_reverse)


def _matches(value: Any, wanted: list[str]) -> bool:
    """Does an attribute's ``value`` equal one of the query's ``wanted`` texts?

    The texts are read as the attribute's type, as Neutron converts them:
    booleans in Neutron's spellings, integers as numbers (others refused);
    a list matches when one of its elements does.
    """
    if isinstance(value, bool):
        return any(boolean_value(w) == value for w in wanted)
    if isinstance(value, int):
        return any(_integer(w) == value for w in wanted)
    if value is None:
        return any(w in ("", "None", "null") for w in wanted)
    if isinstance(value, list):
        return any(str(v) in wanted for v in value) if value else False
    return str(value) in wanted


def _matching(items: list[dict[str, Any]], key: str, wanted: list[str]) -> list[dict[str, Any]]:
    """The items whose ``key`` matches ``wanted`` (``_matches``), a string
    value tested in a set without a call per item: a list of 500 ports
    filtered by network id is mostly strings."""
    texts = set(wanted)
    out = []
    for item in items:
        value = item.get(key)
        if value.__class__ is str:
            if value in texts:
                out.append(item)
        elif _matches(value, wanted):
            out.append(item)
    return out


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"'{shown(text)}' is not an integer") from None


def _fixed_ip_match(item: dict[str, Any], specs: list[str]) -> bool:
    ips = item.get("fixed_ips") or []
    for spec in specs:
        key, _, val = spec.partition("=")
        if key not in ("ip_address", "subnet_id", "ip_address_substr"):
            raise InvalidInput(f"Invalid fixed_ips filter {spec!r}")
        if key == "ip_address_substr":
            if any(val in ip["ip_address"] for ip in ips):
                return True
        elif any(ip.get(key) == val for ip in ips):
            return True
    return False


def apply_filters(
    items: list[dict[str, Any]],
    query: ListQuery,
    known: set[str] | None = None,
    applied: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Keep the items every filter matches.

    ``known`` names the attributes a filter may name (with ``EXTRA_FILTERS``
    and ``applied``); other names are refused, all of them at once, in
    Neutron's words. ``applied`` names filters the service has already
    applied (on attributes the items do not show, such as a subnet's
    ``shared``): they are accepted and not applied again.
    """
    if known is not None:
        invalid = [k for k in query.filters if k not in known | EXTRA_FILTERS | applied]
        if invalid:
            raise BadRequest(f"{invalid} is invalid attribute for filtering")
    out = items
    for key, wanted in query.filters.items():
        if key in applied:
            continue
        if key == "fixed_ips":
            out = [i for i in out if _fixed_ip_match(i, wanted)]
        elif key in ("ip_address", "subnet_id") and key not in (known or set()):
            out = [i for i in out if _fixed_ip_match(i, [f"{key}={w}" for w in wanted])]
        else:
            out = _matching(out, key, wanted)
    for key, wanted in query.tag_filters.items():
        want = set(wanted)
        if key == "tags":
            out = [i for i in out if want <= set(i.get("tags") or [])]
        elif key == "tags-any":
            out = [i for i in out if want & set(i.get("tags") or [])]
        elif key == "not-tags":
            out = [i for i in out if not want <= set(i.get("tags") or [])]
        else:
            out = [i for i in out if not want & set(i.get("tags") or [])]
    return out


def _sort_value(v: Any) -> tuple[int, Any]:
    if v is None:
        return (0, "")
    if isinstance(v, bool | int | float):
        return (1, v)
    return (2, str(v))


def apply_sort(
    items: list[dict[str, Any]], query: ListQuery, known: set[str] | None = None
) -> list[dict[str, Any]]:
    if not query.sort:
        return items
    out = list(items)
    for key, _asc in query.sort:
        if known is not None and key not in known:
            raise BadRequest(f"{key} is an invalid attribute for sort_keys")
    keys = list(query.sort)
    if "id" not in {k for k, _ in keys}:
        keys.append(("id", keys[0][1]))
    for key, asc in reversed(keys):

        def sort_key(item: dict[str, Any], k: str = key) -> tuple[int, Any]:
            return _sort_value(item.get(k))

        out.sort(key=sort_key, reverse=not asc)
    return out


def apply_fields(item: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    if not fields:
        return item
    return {k: item[k] for k in fields if k in item}


def _link(request: Request, params: list[tuple[str, str]]) -> str:
    base = str(request.url).split("?", 1)[0]
    return f"{base}?{urlencode(params)}" if params else base


def paginate(
    request: Request,
    collection: str,
    items: list[dict[str, Any]],
    query: ListQuery,
    key: str = "id",
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """One page of ``items`` and its links, by Neutron's rules.

    Without a ``limit`` there are no pages (a ``marker`` alone is ignored).
    A forward page has a ``next`` link unless it came out short and a
    ``previous`` link always (the first page too); a reverse page has a
    ``previous`` link unless it came out short and a ``next`` link always.
    So a full last page still links to a ``next``, which answers an empty
    page: clients follow links until a page has none. A marker not among
    ``items`` is ignored, as Neutron's object pager does when the marker's
    object is not found for the caller (a page link from another caller's
    listing, a marker since deleted).
    """
    if query.limit is None:
        return items, []
    ordered = list(reversed(items)) if query.page_reverse else items
    start = 0
    if query.marker is not None:
        idx = next((n for n, i in enumerate(ordered) if i.get(key) == query.marker), None)
        # a marker the caller does not find among its items (another
        # project's, or gone) is no marker: the page starts at the first item
        start = 0 if idx is None else idx + 1
    page = ordered[start : start + query.limit]
    if query.page_reverse:
        page = list(reversed(page))
    short = len(page) < query.limit
    base = [
        (k, v) for k, v in request.query_params.multi_items() if k not in ("marker", "page_reverse")
    ]
    links = []
    if not (short and not query.page_reverse):
        marker = [("marker", page[-1][key])] if page else []
        links.append({"rel": "next", "href": _link(request, [*base, *marker])})
    if not (short and query.page_reverse):
        marker = [("marker", page[0][key])] if page else []
        links.append(
            {"rel": "previous", "href": _link(request, [*base, *marker, ("page_reverse", "True")])}
        )
    return page, links


def list_response(
    request: Request,
    collection: str,
    items: list[dict[str, Any]],
    attributes: set[str] | None = None,
    applied: frozenset[str] = frozenset(),
    key: str = "id",
    item_json: ItemJson | None = None,
) -> Response:
    """Render ``{collection: [...]}`` applying the request's list query.

    ``attributes`` names every attribute of the collection (for filter and
    sort validation); without it, unknown filters are not refused.
    ``applied`` names the filters the service applied itself. ``key``
    is the attribute that identifies an item (paging markers).
    ``item_json`` keeps the JSON of items the service keeps between requests.
    """
    query = parse_list_query(list(request.query_params.multi_items()))
    items = apply_filters(items, query, attributes, applied)
    items = apply_sort(items, query, attributes)
    items, links = paginate(request, collection, items, query, key)
    if query.fields:
        items = [apply_fields(i, query.fields) for i in items]
    elif item_json is not None:
        return json_list_response(collection, items, links, item_json)
    body: dict[str, Any] = {collection: items}
    if links:
        body[f"{collection}_links"] = links
    return json_response(body)


def show_response(
    request: Request, member: str, item: dict[str, Any], status: int = 200
) -> Response:
    fields = tuple(f for v in request.query_params.getlist("fields") for f in v.split(",") if f)
    return json_response({member: apply_fields(item, fields)}, status=status)


def sql_prefilters(request: Request, allowed: set[str]) -> dict[str, list[str]]:
    """Plain equality filters among ``allowed`` that SQL can apply first."""
    out: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        if key in allowed:
            out.setdefault(key, []).append(value)
    return out
