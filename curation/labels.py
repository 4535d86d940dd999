"""Names shared by every stage, the report and the loader: tier ids and weight labels."""

from __future__ import annotations

#: curriculum tiers, easiest first; tier 0 means "excluded" (never sharded)
TIERS: tuple[int, ...] = (1, 2, 3, 4, 5)
ALL_TIERS: tuple[int, ...] = (0, *TIERS)

TIER_NAMES: dict[int, str] = {
    0: "excluded",
    1: "simple objects & static scenes",
    2: "compound scenes, simple motion",
    3: "complex motion & lighting",
    4: "edge cases & fast motion",
    5: "refinement (highest quality)",
}

#: the weights label of a model that runs without real weights (CLIP, captioner):
#: every row and report that used it says so
RANDOM_INIT = "random-init"
PRETRAINED = "pretrained"


def is_random_init(label: str | None) -> bool:
    return (label or RANDOM_INIT) == RANDOM_INIT
