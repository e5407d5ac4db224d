"""The queue adapters by name: the one place outside the adapters that names a queue library.

Imported lazily, so that reading a variant's queue does not import every queue library.
"""

from __future__ import annotations

from importlib import import_module
from typing import Final

from core.contracts import variant
from core.settings import Settings
from queues.base import Queue

ADAPTERS: Final = {
    "arq": "queues.arq:Arq",
    "saq": "queues.saq:Saq",
    "inprocess": "queues.inprocess:InProcess",
    "celery": "queues.celery:Celery",
    "celery-acks-late": "queues.celery:CeleryAcksLate",
    "procrastinate": "queues.procrastinate:Procrastinate",
}


def adapter(name: str) -> type[Queue]:
    module, _, attr = ADAPTERS[name].partition(":")
    found: type[Queue] = getattr(import_module(module), attr)
    return found


def packages() -> tuple[str, ...]:
    """The distributions the queue adapters run on, for each run's metadata."""
    return tuple(p for name in ADAPTERS for p in adapter(name).packages)


def queue_class(variant_name: str) -> type[Queue] | None:
    """The adapter of a variant's queue, None for a variant that does its work in the request."""
    name = variant(variant_name).queue
    return None if name is None else adapter(name)


def queue_of(variant_name: str, settings: Settings) -> Queue | None:
    cls = queue_class(variant_name)
    return None if cls is None else cls(settings)


def needs_database(variant_names: list[str] | tuple[str, ...]) -> bool:
    """Whether any of these variants keeps its jobs in the store's database (PostgreSQL)."""
    return any((cls := queue_class(v)) is not None and cls.needs_database for v in variant_names)


def has_workers(variant_name: str) -> bool:
    """Whether a variant's work runs in queue workers, outside its target's process."""
    cls = queue_class(variant_name)
    return cls is not None and cls.worker is not None
