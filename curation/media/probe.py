"""Probe a media file with ffprobe (through ffmpeg-python) into a small typed record.

`probe_media` raises `ProbeError(reason, detail)` when ffprobe cannot read the
file; it does NOT raise for a readable file without a video stream (an
audio-only .mp4 probes fine): check `MediaInfo.has_video`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg

from curation.media.geometry import display_size


class ProbeError(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def ffmpeg_url(path: str | Path) -> str:
    """`file:` URL of an absolute path: never parsed as an option or another protocol."""
    return "file:" + os.path.abspath(path)


_ADDR = re.compile(r" @ 0x[0-9a-fA-F]+")


def clean_log(text: str) -> str:
    """ffmpeg log text without the per-run object addresses ("[mov,mp4 @ 0x55d9...]"), so reject details are deterministic."""
    return _ADDR.sub("", text).strip()


def _stderr_tail(data: bytes | None, limit: int = 400) -> str:
    return clean_log((data or b"").decode("utf-8", "replace"))[-limit:]


def _ratio(value: Any) -> Fraction | None:
    """'30000/1001' or '1:1' -> Fraction; '0/0', 'N/A', None -> None."""
    if value in (None, "", "N/A"):
        return None
    num, sep, den = str(value).replace(":", "/").partition("/")
    try:
        n, d = int(num), int(den) if sep else 1
    except ValueError:
        return None
    return Fraction(n, d) if d and n else None


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if f == f else None  # NaN -> None


def _rotation(stream: dict[str, Any]) -> int:
    """Clockwise display rotation in degrees (0/90/180/270); ffmpeg's autorotate applies it."""
    for sd in stream.get("side_data_list") or []:
        if "rotation" in sd:
            r = _float(sd["rotation"])
            if r is not None:  # display matrix rotation is counter-clockwise
                return int(round(-r)) % 360 // 90 * 90
    tag = (stream.get("tags") or {}).get("rotate")
    r = _float(tag)
    return int(round(r)) % 360 // 90 * 90 if r is not None else 0


@dataclass(frozen=True)
class MediaInfo:
    path: str
    format_name: str
    size_bytes: int
    has_video: bool
    has_audio: bool
    stream_summary: str  # e.g. "video:h264, audio:aac"
    video_index: int | None = None  # absolute stream index of the chosen video stream
    codec: str | None = None
    width: int = 0
    height: int = 0
    sar: Fraction = Fraction(1)
    fps: float | None = None
    duration_s: float | None = None  # video stream duration, else the container's
    start_s: float = 0.0
    rotation: int = 0
    nb_frames: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def display_size(self) -> tuple[float, float]:
        return display_size(self.width, self.height, self.sar, self.rotation)


def _is_video(stream: dict[str, Any]) -> bool:
    if stream.get("codec_type") != "video":
        return False
    # cover art inside audio files is a "video" stream with one picture: not a video
    return not (stream.get("disposition") or {}).get("attached_pic")


def parse_probe(path: str | Path, data: dict[str, Any]) -> MediaInfo:
    fmt = data.get("format") or {}
    streams = data.get("streams") or []
    summary = ", ".join(
        f"{s.get('codec_type', '?')}:{s.get('codec_name', '?')}" + ("(cover art)" if s.get("codec_type") == "video" and not _is_video(s) else "")
        for s in streams
    ) or "no streams"
    size = int(_float(fmt.get("size")) or 0) or (os.path.getsize(path) if os.path.exists(path) else 0)
    has_audio = any(s.get("codec_type") == "audio" for s in streams)
    videos = [s for s in streams if _is_video(s)]
    base = dict(path=str(path), format_name=str(fmt.get("format_name", "")), size_bytes=size, has_audio=has_audio, stream_summary=summary, raw=data)
    if not videos:
        return MediaInfo(has_video=False, **base)
    v = videos[0]
    fps = _ratio(v.get("avg_frame_rate")) or _ratio(v.get("r_frame_rate"))
    duration = _float(v.get("duration"))
    if duration is None or duration <= 0:
        duration = _float(fmt.get("duration"))
    sar = _ratio(v.get("sample_aspect_ratio")) or Fraction(1)
    nb = _float(v.get("nb_frames"))
    return MediaInfo(
        has_video=True,
        video_index=int(v.get("index", 0)),
        codec=v.get("codec_name"),
        width=int(v.get("width") or 0),
        height=int(v.get("height") or 0),
        sar=sar if sar > 0 else Fraction(1),
        fps=float(fps) if fps else None,
        duration_s=duration,
        start_s=_float(v.get("start_time")) or 0.0,
        rotation=_rotation(v),
        nb_frames=int(nb) if nb else None,
        **base,
    )


def _classify(path: str | Path, stderr: str) -> str:
    low = stderr.lower()
    head = b""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return "unreadable"
    if "moov atom not found" in low and head[4:8] in (b"ftyp", b"mdat", b"free", b"wide", b"skip"):
        return "truncated"  # an ISO-BMFF file whose index never got written
    if "invalid data found" in low or "moov atom not found" in low:
        return "not_media"
    if "end of file" in low or "truncat" in low:
        return "truncated"
    return "probe_failed"


def probe_media(path: str | Path) -> MediaInfo:
    """ffprobe `path` (format + streams). Raises ProbeError when it is not readable media."""
    path = Path(path)
    try:
        data = ffmpeg.probe(ffmpeg_url(path), v="error")
    except ffmpeg.Error as exc:
        tail = _stderr_tail(exc.stderr).replace(ffmpeg_url(path), path.name).replace(str(path.resolve()), path.name)
        raise ProbeError(_classify(path, tail), f"ffprobe failed: {tail or 'no message'}") from None
    except (OSError, ValueError) as exc:  # ffprobe missing / unparseable JSON
        raise ProbeError("probe_failed", f"{type(exc).__name__}: {exc}") from None
    return parse_probe(path, data)
