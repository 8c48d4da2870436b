"""The simulated world: pure numpy, batched over independent worlds. No RL API here."""

from marec_env.core.catalog import Catalog, generate_catalog

__all__ = ["Catalog", "generate_catalog"]
