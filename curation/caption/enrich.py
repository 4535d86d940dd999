"""Optional caption enrichment with measured signals (caption.append_signals, default off), as
Open-Sora does for its training captions:

    "a man is surfing"  ->  "a man is surfing; camera: pan left; motion: fast"

Format: the caption with trailing whitespace and one trailing '.', ',' or ';' removed, then
"; camera: <camera phrase>" and "; motion: <level>", each part only when known:

    camera phrase  the `camera_motion` label with words for underscores ("pan left", "zoom in",
                   "tilt up", "static"), "rotating" for rotate, "shaky" for shake.  Left out for
                   "complex" (it says nothing a model can learn), for None, and when the label's
                   confidence is given and below `min_camera_confidence`.
    motion level   from the clip's flow_mean (fraction of the frame width per second,
                   `curation.score.flow`) by `motion_level`: "none" < 0.01 <= "slow" < 0.06 <=
                   "moderate" < 0.20 <= "fast".  (Measured on ../shared/media: a signer 0.02 slow,
                   a surfer 0.13 moderate, a skier 0.32 fast; a pan across 15 % of the frame per
                   second is moderate.)

An uncaptioned clip (None or blank) stays uncaptioned: signals alone are not a caption.  Applying
it again replaces the signals it appended before (idempotent), so a re-run never stacks them.
"""

from __future__ import annotations

import math
import re

from curation.config import EnrichParams

CAMERA_PHRASES = {
    "static": "static",
    "pan_left": "pan left",
    "pan_right": "pan right",
    "tilt_up": "tilt up",
    "tilt_down": "tilt down",
    "zoom_in": "zoom in",
    "zoom_out": "zoom out",
    "rotate": "rotating",
    "shake": "shaky",
}
MOTION_LEVELS = ("none", "slow", "moderate", "fast")
_SUFFIX = re.compile(r"(?:; camera: [a-z ]+)?(?:; motion: (?:none|slow|moderate|fast))?$")


def motion_level(flow_mean: float | None, params: EnrichParams | None = None) -> str | None:
    """"none" | "slow" | "moderate" | "fast" from flow_mean (width per second); None when unknown."""
    if flow_mean is None or math.isnan(flow_mean):
        return None
    bounds = (params or EnrichParams()).motion_bounds
    for level, bound in zip(MOTION_LEVELS, bounds, strict=False):
        if flow_mean < bound:
            return level
    return MOTION_LEVELS[-1]


def strip_signals(caption: str) -> str:
    """The caption without signals appended by `append_signals`."""
    return _SUFFIX.sub("", caption.rstrip())


def append_signals(
    caption: str | None,
    camera_motion: str | None,
    motion_level: str | None,
    *,
    camera_confidence: float | None = None,
    params: EnrichParams | None = None,
) -> str | None:
    """`caption` + "; camera: <phrase>; motion: <level>" (see the module doc); None/blank captions unchanged."""
    p = params or EnrichParams()
    if caption is None or not caption.strip():
        return caption
    if motion_level is not None and motion_level not in MOTION_LEVELS:
        raise ValueError(f"motion_level must be one of {MOTION_LEVELS}, got {motion_level!r}")
    text = strip_signals(caption)
    if text[-1:] in ".,;":
        text = text[:-1].rstrip()
    phrase = CAMERA_PHRASES.get(camera_motion or "")
    if phrase is not None and camera_confidence is not None and camera_confidence < p.min_camera_confidence:
        phrase = None
    if phrase is not None:
        text += f"; camera: {phrase}"
    if motion_level is not None:
        text += f"; motion: {motion_level}"
    return text
