"""Registries of the classes a GO message names by a wire id: masking policies, index coders and
caption coders. A class registers itself with a decorator (as CompressAI registers its models);
a second class with a name or a wire id already taken is refused, so two ends can never read
one id two ways."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TypeVar

from lamigo.errors import ConfigError

T = TypeVar("T", bound=type)


class WireRegistry(Mapping[str, T]):
    """Classes by `name` and by `wire_id` (class attributes), ids in [0, max_wire_id].

    As a mapping it holds the names in registration order; `lookup` is the user-facing access
    (ConfigError naming the choices), `by_wire_id` the receiver's."""

    def __init__(self, what: str, max_wire_id: int) -> None:
        self.what = what
        self.max_wire_id = max_wire_id
        self._by_name: dict[str, T] = {}
        self._by_wire_id: dict[int, T] = {}

    def register(self, cls: T) -> T:
        """Class decorator: add `cls` under its `name` and `wire_id`."""
        name, wire_id = cls.name, cls.wire_id
        if not 0 <= wire_id <= self.max_wire_id:
            raise ValueError(f"{self.what} {name!r}: wire id {wire_id} outside [0, {self.max_wire_id}]")
        if name in self._by_name:
            raise ValueError(f"{self.what} name {name!r} is taken by {self._by_name[name].__qualname__}")
        if wire_id in self._by_wire_id:
            raise ValueError(f"{self.what} wire id {wire_id} of {name!r} is taken by "
                             f"{self._by_wire_id[wire_id].name!r}")
        self._by_name[name] = cls
        self._by_wire_id[wire_id] = cls
        return cls

    def lookup(self, name: str) -> T:
        """The class named `name`; ConfigError listing the choices when there is none."""
        if name not in self._by_name:
            raise ConfigError(f"unknown {self.what} {name!r}; choose one of {', '.join(sorted(self._by_name))}")
        return self._by_name[name]

    def by_wire_id(self, wire_id: int) -> T | None:
        """The class a message names by `wire_id`; None when this end knows no such class."""
        return self._by_wire_id.get(wire_id)

    def __getitem__(self, name: str) -> T:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)
