"""The ingest Stage: one source video in, its clip rows (or one reject row) out.

Task: {"source_path": path relative to paths.raw, "path": absolute path,
"source_sha256": sha256 of the bytes}.  Output rows carry "kind": "clip" (a row
of schemas.CLIPS) or "reject" (a row of schemas.REJECTS).
"""

from __future__ import annotations

import traceback
from pathlib import Path

from curation.config import IngestParams
from curation.ingest.split import split_source
from curation.ingest.validate import Rejected, validate_source
from curation.stage import Row, Stage


def reject_row(source_path: str, sha: str | None, reason: str, detail: str, params_hash: str) -> Row:
    return {"kind": "reject", "source_path": source_path, "source_sha256": sha, "stage": "ingest", "reason": reason, "detail": detail, "params_hash": params_hash}


class IngestStage(Stage):
    name = "ingest"

    def __init__(self, ingest: IngestParams, clips_dir: str, params_hash: str):
        self.ingest = ingest
        self.clips_dir = str(clips_dir)
        self.params_hash = params_hash

    def process(self, task: Row) -> list[Row]:
        rel, sha = task["source_path"], task["source_sha256"]
        try:
            return self._process(Path(task["path"]), rel, sha)
        except Rejected as rej:
            return [reject_row(rel, sha, rej.reason, rej.detail, self.params_hash)]
        except Exception as exc:  # never let one source stop the run; say what happened
            tb = traceback.format_exc(limit=2).strip().splitlines()[-1]
            return [reject_row(rel, sha, "internal_error", f"{type(exc).__name__}: {exc} [{tb}]"[:1000], self.params_hash)]

    def _process(self, path: Path, rel: str, sha: str) -> list[Row]:
        ing = self.ingest
        info = validate_source(path, name=rel)
        res = split_source(path, info, ing, self.clips_dir, sha, self.params_hash)
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
                    "kind": "clip",
                    "clip_id": c.clip_id,
                    "clip_path": c.path.as_posix(),
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
                    "has_audio": info.has_audio,
                    "source_cuts": res.cuts,
                    "source_dropped_segments": res.dropped_segments,
                    "source_dropped_s": res.dropped_frames / fps,
                    "params_hash": self.params_hash,
                }
            )
        return rows
