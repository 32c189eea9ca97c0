"""Registries of named parts (as CompressAI registers its models): a class registers itself
with a decorator (or an entry with a `name` is registered by a call), and a second one under a
name already taken is refused.

`Registry` holds them by `name`: the downstream tasks of `lamigo eval`, the GNU Radio modems and
channels. `WireRegistry` also
holds them by `wire_id`, for what a GO message names by a wire id (masking policies, index and
caption coders, classical codecs): a taken id is refused too, so two ends can never read one id
two ways."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TypeVar

from lamigo.errors import ConfigError

T = TypeVar("T")  # a class, or an entry object: anything with a `name`

__all__ = ["Registry", "WireRegistry"]


class Registry(Mapping[str, T]):
    """Classes (or entries) by `name` (an attribute), in registration order.

    As a mapping it holds the names; `lookup` is the user-facing access (ConfigError naming
    the choices)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._by_name: dict[str, T] = {}

    def register(self, cls: T) -> T:
        """Class decorator: add `cls` under its `name`; ValueError when it is empty or taken."""
        name = cls.name
        if not name:
            raise ValueError(f"{self.what} {cls.__qualname__} has an empty name")
        if name in self._by_name:
            raise ValueError(f"{self.what} name {name!r} is taken by {self._by_name[name].__qualname__}")
        self._check(cls)
        self._by_name[name] = cls
        return cls

    def _check(self, cls: T) -> None:
        """What a subclass refuses besides a taken name (raise ValueError); nothing here."""

    def lookup(self, name: str) -> T:
        """The class named `name`; ConfigError listing the choices when there is none."""
        if name not in self._by_name:
            raise ConfigError(f"unknown {self.what} {name!r}; choose one of {', '.join(sorted(self._by_name))}")
        return self._by_name[name]

    def __getitem__(self, name: str) -> T:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)


class WireRegistry(Registry[T]):
    """Classes by `name` and by `wire_id` (class attributes), ids in [0, max_wire_id];
    `by_wire_id` is the receiver's access."""

    def __init__(self, what: str, max_wire_id: int) -> None:
        super().__init__(what)
        self.max_wire_id = max_wire_id
        self._by_wire_id: dict[int, T] = {}

    def _check(self, cls: T) -> None:
        name, wire_id = cls.name, cls.wire_id
        if not 0 <= wire_id <= self.max_wire_id:
            raise ValueError(f"{self.what} {name!r}: wire id {wire_id} outside [0, {self.max_wire_id}]")
        if wire_id in self._by_wire_id:
            raise ValueError(f"{self.what} wire id {wire_id} of {name!r} is taken by "
                             f"{self._by_wire_id[wire_id].name!r}")

    def register(self, cls: T) -> T:
        super().register(cls)
        self._by_wire_id[cls.wire_id] = cls
        return cls

    def by_wire_id(self, wire_id: int) -> T | None:
        """The class a message names by `wire_id`; None when this end knows no such class."""
        return self._by_wire_id.get(wire_id)
