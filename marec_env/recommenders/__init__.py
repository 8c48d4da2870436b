"""Recommender backbones: each agent's own, partial view of users and items.

:data:`BACKBONE_CLASSES` is the one registry of backbone kinds. Adding a backbone: write its
class (a :class:`~marec_env.recommenders.base.Backbone`) in its own module and add one line
here. This module imports no backbone (nor the config) until one is built, so the text stack
loads only when a text agent is used and :mod:`marec_env.config` can validate kinds against
this registry.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from marec_env.config import MarketConfig
    from marec_env.core.catalog import Catalog
    from marec_env.recommenders.base import Backbone

BACKBONE_CLASSES: dict[str, str] = {
    "cf": "marec_env.recommenders.cf:CollaborativeBackbone",
    "content": "marec_env.recommenders.content:ContentBackbone",
    "text": "marec_env.recommenders.text:TextBackbone",
    "popularity": "marec_env.recommenders.popularity:PopularityBackbone",
}
"""Backbone kind → ``module:Class``, imported lazily. The order is part of the env version:
a kind's position is the ``backbone_id`` agents see in ``infos``; append new kinds."""

BACKBONE_KINDS: tuple[str, ...] = tuple(BACKBONE_CLASSES)
"""Every backbone kind, in registry order."""


def backbone_id(kind: str) -> int:
    """The kind's position in the registry (``infos["backbone_id"]``)."""
    return BACKBONE_KINDS.index(kind)


def backbone_class(kind: str) -> type[Backbone]:
    if kind not in BACKBONE_CLASSES:
        raise ValueError(f"unknown backbone kind {kind!r}; allowed: {list(BACKBONE_KINDS)}")
    module, name = BACKBONE_CLASSES[kind].split(":")
    return getattr(importlib.import_module(module), name)


def make_backbone(kind: str, catalog: Catalog, config: MarketConfig, num_worlds: int) -> Backbone:
    return backbone_class(kind)(catalog, config, num_worlds)


def __getattr__(name: str) -> Any:
    # ``from marec_env.recommenders import Backbone`` keeps working without importing the
    # base module (and through it the config) when the registry alone is needed.
    if name == "Backbone":
        from marec_env.recommenders.base import Backbone

        return Backbone
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BACKBONE_CLASSES",
    "BACKBONE_KINDS",
    "Backbone",
    "backbone_class",
    "backbone_id",
    "make_backbone",
]
