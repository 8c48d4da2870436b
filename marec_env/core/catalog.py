"""The item catalog: hidden latents, public attributes, English descriptions, release times.

The catalog is shared by every world of a market (it is part of the env definition, drawn from
``catalog_seed``); users and everything that happens to them are per world.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

# One entry per topic: a canonical name for user profiles, then phrases for descriptions.
TOPIC_VOCABULARY: tuple[tuple[str, ...], ...] = (
    ("space exploration", "astronauts on a distant planet", "a starship crew", "deep space"),
    ("romance", "two people falling in love", "a wedding gone wrong", "a love letter"),
    ("crime", "a detective hunting a killer", "a bank heist", "a murder investigation"),
    ("cooking", "a chef and her kitchen", "recipes from grandmother", "street food"),
    ("football", "a football team chasing the title", "a striker's comeback", "soccer fans"),
    ("history", "the Roman empire", "a medieval king", "the second world war"),
    ("nature", "wild animals of the savanna", "the ocean and its whales", "ancient forests"),
    ("music", "a rock band on tour", "a young violinist", "jazz clubs at night"),
    ("technology", "artificial intelligence", "a startup building robots", "computer hackers"),
    ("horror", "a haunted house", "ghosts in the attic", "a monster in the woods"),
    ("comedy", "a clumsy office worker", "a family of pranksters", "stand-up comedians"),
    ("politics", "an election campaign", "a president in crisis", "parliament debates"),
    ("travel", "a road trip across the desert", "backpacking through Asia", "a cruise"),
    ("fashion", "a fashion designer", "models in Paris", "a vintage clothing shop"),
    ("medicine", "surgeons in an emergency room", "a pandemic", "a nurse on night shift"),
    ("finance", "a stock market crash", "Wall Street traders", "a family fortune"),
)
MAX_TOPICS = len(TOPIC_VOCABULARY)

FORMS = ("film", "novel", "podcast", "documentary", "series", "short story")
SETTINGS = (
    "a small coastal town",
    "a crowded megacity",
    "the mountains",
    "a remote island",
    "the near future",
    "the nineteenth century",
    "a quiet suburb",
    "a desert outpost",
)
GOOD_MOODS = ("an acclaimed", "a gripping", "a heartfelt", "a brilliant")
PLAIN_MOODS = ("a light", "a quiet", "a familiar", "an uneven")


@dataclass(frozen=True)
class Catalog:
    """Item tables. ``latent``/``quality`` are hidden; the rest is public."""

    latent: np.ndarray
    """(n_items, n_topics) float32 topic mixture (rows sum to 1). Hidden."""
    quality: np.ndarray
    """(n_items,) float32 hidden quality (plus the bait appeal, with bait)."""
    attributes: np.ndarray
    """(n_items, n_topics) float32 public tags: a noisy, L2-normalised view of the latent."""
    main_topic: np.ndarray
    """(n_items,) int64 the topic with most mass (public genre)."""
    release_time: np.ndarray
    """(n_items,) int64 step at which the item enters the catalog (0 = available at start)."""
    descriptions: tuple[str, ...]
    """English description of each item, generated from its latent."""
    profile_texts: tuple[str, ...]
    """Sign-up texts users write about themselves, indexed by ``profile_text_id``."""
    praised: np.ndarray | None = None
    """(n_items,) bool the description uses a praising adjective (public; markets v1 draws
    it from quality + ``text_noise`` × N(0, 1), v0 from the sign of the hidden quality)."""
    bait: np.ndarray | None = None
    """(n_items,) float32 hidden bait level in [0, 1] (the item's share of the sensational
    topic, ``MarketConfig.bait_topic``); None without bait. Its appeal is already in
    ``quality``; its regret costs session budget when the item is consumed."""

    @property
    def n_items(self) -> int:
        return int(self.latent.shape[0])

    @property
    def n_topics(self) -> int:
        return int(self.latent.shape[1])


def _describe(latent: np.ndarray, quality: float, rng: np.random.Generator) -> str:
    order = np.argsort(-latent)
    first = TOPIC_VOCABULARY[order[0]][1 + rng.integers(3)]
    phrase = first
    if latent[order[1]] >= 0.2:
        phrase += " and " + TOPIC_VOCABULARY[order[1]][1 + rng.integers(3)]
    moods = GOOD_MOODS if quality > 0 else PLAIN_MOODS
    mood = moods[rng.integers(len(moods))]
    form = FORMS[rng.integers(len(FORMS))]
    setting = SETTINGS[rng.integers(len(SETTINGS))]
    return f"{mood[0].upper()}{mood[1:]} {form} about {phrase}, set in {setting}."


def profile_text_index(first_topic: np.ndarray, second_topic: np.ndarray, n_topics: int):
    """Index into ``Catalog.profile_texts`` of a user whose two favourite topics are given."""
    return first_topic * n_topics + second_topic


def _profile_texts(n_topics: int) -> tuple[str, ...]:
    texts = []
    for first in range(n_topics):
        for second in range(n_topics):
            a = TOPIC_VOCABULARY[first][0]
            b = TOPIC_VOCABULARY[second][0]
            texts.append(
                f"I love anything about {a}."
                if first == second
                else f"I love anything about {a}, and I also enjoy {b}."
            )
    return tuple(texts)


def release_schedule(n_items: int, initial_items: int, horizon: int, interval: int = 1):
    """Release step of each item: the first ``initial_items`` at 0, the rest spread evenly
    over the horizon in drops every ``interval`` steps (catalog updates ship in batches)."""
    release = np.zeros(n_items, dtype=np.int64)
    late = n_items - initial_items
    if late > 0:
        spacing = horizon / late
        raw = 1 + np.floor(np.arange(late) * spacing).astype(np.int64)
        release[initial_items:] = np.minimum(-(-raw // interval) * interval, max(horizon - 1, 1))
    return release


def generate_catalog(
    n_items: int,
    n_topics: int,
    initial_items: int,
    horizon: int,
    attribute_noise: float,
    seed: int,
    release_interval: int = 1,
    text_noise: float = 0.0,
) -> Catalog:
    """Draw a catalog from its own seed (independent of any episode's seed).

    ``text_noise`` > 0 (markets v1) chooses the praise in a description by the sign of
    quality + ``text_noise`` × N(0, 1), drawn from a stream of its own so that everything
    else in the catalog is the same as with 0 (v0: the sign of the hidden quality)."""
    if not 2 <= n_topics <= MAX_TOPICS:
        raise ValueError(f"n_topics must be in [2, {MAX_TOPICS}], got {n_topics}")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    latent = rng.dirichlet(np.full(n_topics, 0.3), size=n_items).astype(np.float32)
    quality = (0.5 * rng.standard_normal(n_items)).astype(np.float32)
    noisy = np.maximum(latent + attribute_noise * rng.standard_normal(latent.shape), 0.0)
    noisy[np.arange(n_items), latent.argmax(1)] += 1e-3  # never an all-zero tag vector
    attributes = (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)
    shown_quality = quality
    if text_noise > 0:
        text_rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 1])))
        shown_quality = quality + text_noise * text_rng.standard_normal(n_items)
    descriptions = tuple(_describe(latent[j], float(shown_quality[j]), rng) for j in range(n_items))
    return Catalog(
        latent=latent,
        quality=quality,
        attributes=attributes,
        main_topic=latent.argmax(1).astype(np.int64),
        release_time=release_schedule(n_items, initial_items, horizon, release_interval),
        descriptions=descriptions,
        profile_texts=_profile_texts(n_topics),
        praised=shown_quality > 0,
    )


def with_bait(catalog: Catalog, topic: int, appeal: float) -> Catalog:
    """The catalog whose items carry bait: level b = the hidden share of ``topic``, and
    b × ``appeal`` added to the quality term of the utility (clicked more)."""
    bait = catalog.latent[:, topic].copy()
    quality = (catalog.quality + np.float32(appeal) * bait).astype(np.float32)
    return dataclasses.replace(catalog, quality=quality, bait=bait)
