"""Recording plugins for durable_async and for the reference SDK, with one normalized event shape.

A recording factory builds one plugin per invocation; each plugin appends what its hooks see to
that invocation's :class:`Invocation`. Events keep what both SDKs are meant to agree on: the hook,
the operation's id (ids are identical across the SDKs), type, subtype, name, status, whether it
is replayed, the attempt, and for user functions the outcome; invocation hooks keep whether it is
the first invocation and how it ended. ``on_operation_change`` runs on a thread of its own in the
reference (unordered with the other hooks), so changes are kept apart, as the newest status each
invocation's notifications reported per operation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aws_durable_execution_sdk_python import plugin as ref_plugin

from durable_async import plugin as our_plugin

Event = tuple[Any, ...]

HOOKS = (
    "on_invocation_start",
    "on_invocation_end",
    "on_operation_start",
    "on_operation_end",
    "on_operation_change",
    "on_user_function_start",
    "on_user_function_end",
)


def _value(member: Any) -> Any:
    return getattr(member, "value", member)


def normalize(hook: str, info: Any) -> Event:
    """The comparable part of one hook call."""
    if hook == "on_invocation_start":
        return (hook, info.is_first_invocation)
    if hook == "on_invocation_end":
        return (hook, _value(info.status))
    event: Event = (
        hook,
        info.operation_id,
        _value(info.operation_type),
        _value(info.sub_type),
        info.name,
        _value(info.status),
        info.is_replayed,
        info.attempt,
    )
    if hook == "on_user_function_start":
        return (*event, info.is_replay_children)
    if hook == "on_user_function_end":
        return (*event, info.is_replay_children, _value(info.outcome))
    return event


@dataclass
class Invocation:
    """What one invocation's plugin saw."""

    events: list[Event] = field(default_factory=list)
    #: Newest status per operation id over the invocation's change notifications.
    changes: dict[str, str] = field(default_factory=dict)
    #: The raw infos, in call order, for tests that read more than the normalized events.
    infos: list[tuple[str, Any]] = field(default_factory=list)
    #: Called after ``on_invocation_end`` is recorded.
    ended: Callable[[], None] = lambda: None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, hook: str, info: Any) -> None:
        with self.lock:
            self.infos.append((hook, info))
            if hook == "on_operation_change":
                for op_id, op in info.updated_operations.items():
                    self.changes[op_id] = _value(op.status)
            else:
                self.events.append(normalize(hook, info))
        if hook == "on_invocation_end":
            self.ended()


def _recording_class(base: type[Any]) -> type[Any]:
    def hook(name: str) -> Callable[[Any, Any], None]:
        def call(self: Any, info: Any) -> None:
            self.invocation.record(name, info)

        call.__name__ = name
        return call

    def init(self: Any, invocation: Invocation) -> None:
        self.invocation = invocation

    namespace: dict[str, Any] = {name: hook(name) for name in HOOKS}
    namespace["__init__"] = init
    return type(f"Recording{base.__module__.split('.')[0].title()}Plugin", (base,), namespace)


OurRecordingPlugin = _recording_class(our_plugin.DurableInstrumentationPlugin)
RefRecordingPlugin = _recording_class(ref_plugin.DurableInstrumentationPlugin)


class RecordingFactory:
    """A factory whose plugins record into ``invocations``, one entry per invocation."""

    def __init__(self, plugin_class: type[Any]) -> None:
        self.plugin_class = plugin_class
        self.invocations: list[Invocation] = []
        self.start_infos: list[Any] = []
        self._lock = threading.Lock()
        self._ended = 0
        self._when_ended: list[tuple[int, Callable[[], None]]] = []

    def create_plugin(self, info: Any, /) -> Any:
        invocation = Invocation(ended=self._invocation_ended)
        with self._lock:
            self.invocations.append(invocation)
            self.start_infos.append(info)
        return self.plugin_class(invocation)

    def when_ended(self, count: int, callback: Callable[[], None]) -> None:
        """Call ``callback`` once ``count`` invocations have ended (at once if they have)."""
        with self._lock:
            if self._ended < count:
                self._when_ended.append((count, callback))
                return
        callback()

    def _invocation_ended(self) -> None:
        with self._lock:
            self._ended += 1
            due = [c for n, c in self._when_ended if n <= self._ended]
            self._when_ended = [(n, c) for n, c in self._when_ended if n > self._ended]
        for callback in due:
            callback()

    def events(self) -> list[list[Event]]:
        """Each invocation's events."""
        return [invocation.events for invocation in self.invocations]

    def changes(self) -> list[dict[str, str]]:
        """Each invocation's newest status per changed operation."""
        return [invocation.changes for invocation in self.invocations]


def ours() -> RecordingFactory:
    """A recording factory for durable_async."""
    return RecordingFactory(OurRecordingPlugin)


def reference() -> RecordingFactory:
    """A recording factory for the reference SDK."""
    return RecordingFactory(RefRecordingPlugin)


def per_operation(events: Iterable[Event]) -> tuple[list[Event], dict[str, list[Event]]]:
    """Split one invocation's events into its invocation hooks and each operation's hooks."""
    invocation: list[Event] = []
    operations: dict[str, list[Event]] = {}
    for event in events:
        if event[0] in ("on_invocation_start", "on_invocation_end"):
            invocation.append(event)
        else:
            operations.setdefault(event[1], []).append(event)
    return invocation, operations


def without_ends_of(events: list[list[Event]], op_ids: set[str]) -> list[list[Event]]:
    """``events`` less the end hooks of ``op_ids`` (operations that ended while suspended)."""
    return [
        [e for e in invocation if not (e[0] == "on_operation_end" and e[1] in op_ids)]
        for invocation in events
    ]
