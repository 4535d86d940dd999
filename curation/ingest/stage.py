"""The ingest Stage: one source video in, its clip rows (or one reject row) out.

Task: {"source_path": path relative to paths.raw, "path": absolute path,
"source_sha256": sha256 of the bytes}.  Output rows carry "_output": "clips" (a row
of schemas.CLIPS: `clip_path` is `<paths.clips_dir>/<id[:2]>/<id>.mp4`) or
"rejects" (a row of schemas.REJECTS).

Black bars are detected once per source (`curation.media.blackbars.detect_black_bars`,
params `ingest.black_bars`: a few seeks and single-frame decodes, before the one full
decode); the picture inside them is what gets normalized, and the box is recorded in
every clip row of the source (`crop_box`).

Rejections about the input (`Rejected`) are rows and are reused by later runs; an unexpected exception escapes to the engine, so
that source gets an `internal_error` reject for this run and is tried again next run.
"""

from __future__ import annotations

import os
from pathlib import Path

from curation.config import CutParams, IngestParams
from curation.ingest.naming import clip_relpath
from curation.ingest.split import split_source
from curation.ingest.validate import Rejected, validate_source
from curation.media.blackbars import detect_black_bars
from curation.stage import Resources, Row, Stage

#: bump when the rows (or clip files) this stage computes change for the same params
VERSION = "ingest-4"  # 3: black bars cropped before normalizing, crop_box column; 4: black-bar samples from keyframes


def reject_row(source_path: str, sha: str | None, reason: str, detail: str, params_hash: str) -> Row:
    return {"_output": "rejects", "source_path": source_path, "source_sha256": sha, "stage": "ingest", "reason": reason, "detail": detail, "params_hash": params_hash}


class IngestStage(Stage):
    name = "ingest"
    resources = Resources(cpus=1, memory_gb=0.5)  # one ffmpeg decoder + one x264 encoder at training size
    batch_size = 1  # a source can be hours long: persist each one as soon as it is done

    def __init__(self, ingest: IngestParams, cuts: CutParams, clips_dir: str, params_hash: str):
        self.ingest = ingest
        self.cuts = cuts
        self.clips_dir = str(clips_dir)  # as configured: the prefix of clip_path in the table
        self.clips_root = os.path.abspath(clips_dir)  # where workers write (resolved in the driver: a Ray worker's cwd is not ours)
        self.params_hash = params_hash

    def process(self, task: Row) -> list[Row]:
        rel, sha = task["source_path"], task["source_sha256"]
        try:
            return self._process(Path(task["path"]), rel, sha)
        except Rejected as rej:
            return [reject_row(rel, sha, rej.reason, rej.detail, self.params_hash)]

    def _process(self, path: Path, rel: str, sha: str) -> list[Row]:
        ing = self.ingest
        info = validate_source(path, name=rel)
        box = detect_black_bars(path, info, ing.black_bars)  # None when disabled, no bars, or no confident answer
        res = split_source(path, info, ing, self.cuts, self.clips_root, sha, self.params_hash, crop=box)
        dec = res.decode
        if dec is None or not dec.ok:
            why = f"exit code {dec.returncode}" if dec and dec.returncode != 0 else "no frames decoded"
            raise Rejected("decode_failed", f"{rel}: {why} after {dec.frames if dec else 0} frames; ffmpeg: {(dec.stderr_tail if dec else '') or 'no message'}")
        fps = ing.fps
        if not res.clips:
            raise Rejected(
                "too_short",
                f"{rel}: {res.frames} frames ({res.frames / fps:.2f} s at {fps:g} fps) in {res.dropped_segments} segment(s), "
                f"none reached min_clip_seconds={ing.min_clip_seconds:g}",
            )
        rows = []
        for c in res.clips:
            n = c.end_frame - c.start_frame
            rows.append(
                {
                    "_output": "clips",
                    "clip_id": c.clip_id,
                    "clip_path": (Path(self.clips_dir) / clip_relpath(c.clip_id)).as_posix(),
                    "clip_sha256": c.sha256,
                    "clip_bytes": c.bytes,
                    "source_path": rel,
                    "source_sha256": sha,
                    "start_frame": c.start_frame,
                    "end_frame": c.end_frame,
                    "num_frames": n,
                    "start_s": c.start_frame / fps,
                    "end_s": c.end_frame / fps,
                    "duration_s": n / fps,
                    "fps": float(fps),
                    "width": res.width,
                    "height": res.height,
                    "codec": "h264",
                    "pix_fmt": "yuv420p",
                    "gop": res.gop,
                    "split_reason": c.split_reason,
                    "source_codec": info.codec,
                    "source_width": info.width,
                    "source_height": info.height,
                    "source_fps": info.fps,
                    "source_duration_s": info.duration_s,
                    "source_rotation": info.rotation,
                    "crop_box": list(box) if box is not None else None,
                    "has_audio": info.has_audio,
                    "source_cuts": res.cuts,
                    "source_dropped_segments": res.dropped_segments,
                    "source_dropped_s": res.dropped_frames / fps,
                    "params_hash": self.params_hash,
                }
            )
        return rows
