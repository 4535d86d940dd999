"""Decide whether a source file is a usable video; otherwise say why (a reject reason code + detail)."""

from __future__ import annotations

import os
from pathlib import Path

from curation.media.decode import decodes_frame
from curation.media.probe import MediaInfo, ProbeError, probe_media

#: every reject reason code the ingest stage writes to rejects.parquet, with its meaning
REJECT_REASONS: dict[str, str] = {
    "unreadable": "the file could not be opened or read (permissions, dangling symlink, I/O error)",
    "zero_length": "the file is empty (0 bytes)",
    "not_media": "ffprobe does not recognise the bytes as media (e.g. random bytes with a video extension)",
    "truncated": "the container is cut short (e.g. an mp4 whose moov index was never written)",
    "probe_failed": "ffprobe failed for another reason (the detail has its message)",
    "no_video_stream": "readable media without a video stream (e.g. an audio-only .mp4)",
    "bad_dimensions": "the video stream reports no frame size",
    "zero_duration": "the video has no positive duration",
    "undecodable": "the first or the last frame cannot be decoded",
    "decode_failed": "the full decode failed (decoder error or no frames); clips already cut were deleted",
    "too_short": "no segment between hard cuts reached ingest.min_clip_seconds, so no clip was kept",
    "duplicate_source": "same sha256 as an earlier file (the detail names the first path)",
    "internal_error": "unexpected error inside the ingest code (the detail has the exception)",
}


class Rejected(Exception):
    def __init__(self, reason: str, detail: str):
        if reason not in REJECT_REASONS:
            raise ValueError(f"unknown reject reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def validate_source(path: str | Path, name: str | None = None) -> MediaInfo:
    """Probe and check `path`; returns its MediaInfo or raises `Rejected`.

    Checks, in order: readable and non-empty, ffprobe reads it, it has a video
    stream (ffprobe does not fail on audio-only files), positive frame size and
    duration, the first frame decodes and a frame near the end decodes (catches
    files whose data is cut short but whose index is intact).
    """
    path = Path(path)
    name = name or path.name
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise Rejected("unreadable", f"{name}: {exc.strerror or exc}") from None
    if size == 0:
        raise Rejected("zero_length", f"{name} is an empty file (0 bytes)")
    try:
        info = probe_media(path)
    except ProbeError as exc:
        raise Rejected(exc.reason, exc.detail) from None
    if not info.has_video:
        raise Rejected("no_video_stream", f"{name} has no video stream (streams: {info.stream_summary}; format {info.format_name})")
    if info.width <= 0 or info.height <= 0:
        raise Rejected("bad_dimensions", f"{name}: video stream reports size {info.width}x{info.height}")
    if not info.duration_s or info.duration_s <= 0:
        raise Rejected("zero_duration", f"{name}: video duration is {info.duration_s!r} (streams: {info.stream_summary})")
    ok, err = decodes_frame(path, info.video_index)
    if not ok:
        raise Rejected("undecodable", f"{name}: the first frame does not decode" + (f" ({err})" if err else ""))
    # a frame in the last second (or the last 3 frames at low frame rates) must decode too
    tail = max(1.0, 3.0 / info.fps) if info.fps else 1.0
    seek = info.duration_s - tail  # input -ss is relative to the file's start time
    if seek > 0:
        ok, err = decodes_frame(path, info.video_index, seek_s=seek)
        if not ok:
            raise Rejected("undecodable", f"{name}: no frame decodes after {seek:.2f} s of {info.duration_s:.2f} s (truncated data?)" + (f" ({err})" if err else ""))
    return info
