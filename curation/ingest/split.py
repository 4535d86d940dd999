"""Cut one source into normalized clips in a single decode pass.

One ffmpeg decoder streams yuv420p frames (already at the target fps and size:
no RGB conversion anywhere; when the source has black bars, the decoder crops the
picture inside them first, `crop=` before `scale=`, and the normalized size is that of
the picture: `curation.media.blackbars.crop_plan`); each frame goes through the hard-cut detector
(`curation.media.cuts`, on small thumbnails of its planes) and then into the
current clip's ffmpeg encoder.  A clip ends at a hard cut, at `max_clip_seconds`, or at the end
of the video; a finished clip shorter than `min_clip_seconds` is deleted and
counted.  Frame counts are exact because we count what we write, so the bounds
in the manifest are the real bounds of each written clip.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from curation.config import CutParams, IngestParams
from curation.ingest.naming import clip_file, clip_id
from curation.io.atomic import commit, temp_path_for
from curation.io.hashing import sha256_file
from curation.media.blackbars import CropBox, crop_plan
from curation.media.cuts import CutDetector
from curation.media.decode import DecodeResult, FrameReader, yuv420p_planes
from curation.media.encode import ClipEncoder, EncodeSettings
from curation.media.geometry import gop_frames, normalized_size, seconds_to_frames_ceil, seconds_to_frames_floor
from curation.media.probe import MediaInfo


@dataclass(frozen=True)
class WrittenClip:
    clip_id: str
    path: Path  # where the file is (under the clips dir as given)
    sha256: str
    bytes: int
    start_frame: int  # inclusive, normalized timeline
    end_frame: int  # exclusive
    split_reason: str  # "cut" | "max_length" | "end"


@dataclass
class SplitResult:
    clips: list[WrittenClip] = field(default_factory=list)
    width: int = 0
    height: int = 0
    gop: int = 1
    frames: int = 0  # normalized frames decoded
    cuts: int = 0  # hard cuts detected
    dropped_segments: int = 0  # segments shorter than min_clip_seconds (deleted)
    dropped_frames: int = 0
    decode: DecodeResult | None = None


class _Segment:
    def __init__(self, clips_dir: Path, source_sha256: str, start: int, width: int, height: int, settings: EncodeSettings):
        self.start = start
        self.tmp = temp_path_for(clips_dir / f"{source_sha256[:16]}-{start}.mp4")
        self.encoder = ClipEncoder(self.tmp, width, height, settings, pix_fmt="yuv420p")

    @property
    def frames(self) -> int:
        return self.encoder.frames

    def abort(self) -> None:
        self.encoder.abort()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


def split_source(
    path: str | Path,
    info: MediaInfo,
    ingest: IngestParams,
    cuts: CutParams,
    clips_dir: str | Path,
    source_sha256: str,
    params_hash: str,
    crop: CropBox | None = None,
) -> SplitResult:
    """Decode `path` once and write its clips under `clips_dir`.

    `crop`: the picture box inside black bars (source pixels after autorotate,
    `curation.media.blackbars.detect_black_bars`), or None for the whole frame.

    Raises whatever the decoder/encoder raise; on any exception (or a failed
    decode, reported in `result.decode`) no clip file of this source is left behind.
    """
    clips_dir = Path(clips_dir)
    fps = ingest.fps
    if crop is not None:
        plan = crop_plan(crop, info, ingest.short_side)
        width, height = plan.width, plan.height
    else:
        width, height = normalized_size(info.width, info.height, ingest.short_side, info.sar, info.rotation)
    gop = gop_frames(ingest.gop_seconds, fps)
    settings = EncodeSettings(fps=fps, gop=gop, crf=ingest.crf, preset=ingest.preset, threads=ingest.ffmpeg_threads)
    max_frames = seconds_to_frames_floor(ingest.max_clip_seconds, fps)
    min_frames = seconds_to_frames_ceil(ingest.min_clip_seconds, fps)
    detector = CutDetector.from_params(cuts) if cuts.enabled else None
    result = SplitResult(width=width, height=height, gop=gop)
    seg: _Segment | None = None

    def close(segment: _Segment, reason: str) -> None:
        n = segment.encoder.finish()
        if n < min_frames:
            result.dropped_segments += 1
            result.dropped_frames += n
            with contextlib.suppress(FileNotFoundError):
                segment.tmp.unlink()
            return
        start, end = segment.start, segment.start + n
        cid = clip_id(source_sha256, params_hash, start, end)
        dest = clip_file(clips_dir, cid)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(segment.tmp, 0o644)
        commit(segment.tmp, dest)
        result.clips.append(WrittenClip(cid, dest, sha256_file(dest), dest.stat().st_size, start, end, reason))

    try:
        reader = FrameReader(
            path, width=width, height=height, fps=fps, stream_index=info.video_index, threads=ingest.ffmpeg_threads, pix_fmt="yuv420p",
            crop=tuple(crop) if crop is not None else None,
        )  # fmt: skip
        with reader:
            for index, frame in enumerate(reader):
                is_cut = detector.update_yuv(*yuv420p_planes(frame, width, height)) if detector is not None else False
                result.cuts += int(is_cut)
                if seg is not None and (is_cut or seg.frames >= max_frames):
                    s, seg = seg, None
                    close(s, "cut" if is_cut else "max_length")
                if seg is None:
                    seg = _Segment(clips_dir, source_sha256, index, width, height, settings)
                seg.encoder.write(frame)
        result.decode = reader.result
        result.frames = reader.frames
        if seg is not None:
            s, seg = seg, None
            if result.decode.ok:
                close(s, "end")
            else:
                s.abort()
        if not result.decode.ok:
            remove_clips(result)
        return result
    except BaseException:
        if seg is not None:
            seg.abort()
        remove_clips(result)
        raise


def remove_clips(result: SplitResult) -> None:
    for c in result.clips:
        with contextlib.suppress(FileNotFoundError):
            c.path.unlink()
    result.clips.clear()
