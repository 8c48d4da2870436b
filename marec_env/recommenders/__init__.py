"""Recommender backbones: each agent's own, partial view of users and items."""

from __future__ import annotations

import importlib

from marec_env.config import MarketConfig
from marec_env.core.catalog import Catalog
from marec_env.recommenders.base import Backbone

BACKBONE_CLASSES: dict[str, str] = {
    "cf": "marec_env.recommenders.cf:CollaborativeBackbone",
    "content": "marec_env.recommenders.content:ContentBackbone",
    "popularity": "marec_env.recommenders.popularity:PopularityBackbone",
    "text": "marec_env.recommenders.text:TextBackbone",
}
"""Backbone kind → class; imported lazily so the text stack loads only when used."""


def backbone_class(kind: str) -> type[Backbone]:
    if kind not in BACKBONE_CLASSES:
        raise ValueError(f"unknown backbone kind {kind!r}; allowed: {sorted(BACKBONE_CLASSES)}")
    module, name = BACKBONE_CLASSES[kind].split(":")
    return getattr(importlib.import_module(module), name)


def make_backbone(kind: str, catalog: Catalog, config: MarketConfig, num_worlds: int) -> Backbone:
    return backbone_class(kind)(catalog, config, num_worlds)


__all__ = ["BACKBONE_CLASSES", "Backbone", "backbone_class", "make_backbone"]
