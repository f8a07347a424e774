"""HOT versions: the dates (and release names) kumo accepts, and what each adds.

Every version keeps the functions of the ones before it. A function used
under a version that does not have it is a validation error naming the
path (Heat would silently treat it as a plain map, which hides typos).
"""

from __future__ import annotations

from dataclasses import dataclass

_ADDED: tuple[tuple[str, frozenset[str]], ...] = (
    ("2013-05-23", frozenset({"get_param", "get_resource", "get_attr", "str_replace", "get_file"})),
    ("2014-10-16", frozenset({"list_join"})),
    ("2015-04-30", frozenset({"digest", "repeat"})),
    ("2015-10-15", frozenset({"str_split"})),
    ("2016-04-08", frozenset({"map_merge"})),
    ("2016-10-14", frozenset({"if", "equals", "not", "and", "or"})),
    ("2017-02-24", frozenset({"str_replace_strict"})),
    ("2017-09-01", frozenset()),
    ("2018-03-02", frozenset()),
    ("2018-08-31", frozenset()),
    ("2021-04-16", frozenset()),
)
NAMES = {
    "newton": "2016-10-14",
    "ocata": "2017-02-24",
    "pike": "2017-09-01",
    "queens": "2018-03-02",
    "rocky": "2018-08-31",
    "wallaby": "2021-04-16",
}
CONDITIONS_SINCE = "2016-10-14"
"""The first version with a ``conditions`` section and ``condition`` on resources."""

ALL_FUNCTIONS: frozenset[str] = frozenset().union(*(f for _, f in _ADDED))


@dataclass(frozen=True)
class Version:
    date: str
    name: str
    """As the template wrote it: a date or a release name."""
    functions: frozenset[str]

    @property
    def has_conditions(self) -> bool:
        return self.date >= CONDITIONS_SINCE


def known() -> list[str]:
    return [d for d, _ in _ADDED] + list(NAMES)


def lookup(value: object) -> Version | None:
    text = str(value)
    date = NAMES.get(text, text)
    funcs: set[str] = set()
    for d, added in _ADDED:
        funcs |= added
        if d == date:
            return Version(date, text, frozenset(funcs))
    return None
