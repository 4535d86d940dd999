"""`ScoreStage`: one clip in, one scores row out (CLIP, flow, cheap signals, difficulty).

The clip is decoded once (`curation.score.frames`); CLIP frames are kept (at most
`max_frames`), flow pairs and the cut scan are measured as frames go by.  A clip
that cannot be decoded or whose path is not inside `paths.clips_dir` gets a row
with `score_error` and null scores; it is excluded from the tiers later.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from curation.config import ScoreParams, section_hash
from curation.score import difficulty as diff
from curation.score import signals as sig
from curation.score.flow import FlowMeter, make_dis
from curation.score.frames import ClipVideo, DecodeError, clip_frame_indices, flow_pair_starts
from curation.stage import Row, Stage

#: columns of clips.parquet (+ the caption) a task needs
TASK_COLUMNS = ("clip_id", "clip_path", "fps", "num_frames", "duration_s")


def default_threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


class ScoreStage(Stage):
    name = "score"

    def __init__(self, params: ScoreParams, clips_dir: str | Path, threads: int = 1):
        self.params = params
        self.clips_dir = str(clips_dir)
        self.threads = max(1, int(threads))
        self.params_hash = section_hash(params)
        self._clip = None
        self._dis = None

    def __getstate__(self) -> dict[str, Any]:  # ship params to workers, never a loaded model
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")} | {"_clip": None, "_dis": None}

    def attach(self, clip) -> None:
        """Use an already loaded `LoadedClip` (in-process runs: the model is not loaded twice)."""
        self._clip = clip

    def setup(self) -> None:
        if self._dis is not None:
            return
        import cv2
        import torch

        from curation.score.clip_model import load_clip

        torch.set_num_threads(self.threads)
        cv2.setNumThreads(1)  # DIS on 160-px frames: threads cost more than they give; keeps results deterministic
        if self._clip is None:
            self._clip = load_clip(self.params.clip)
        self._dis = make_dis(self.params.flow.preset)
        self._clips_root = Path(self.clips_dir).resolve()

    @property
    def clip_weights(self) -> str:
        self.setup()
        return self._clip.weights

    # ------------------------------------------------------------------ per clip
    def _clip_file(self, clip_path: str) -> Path | None:
        if not clip_path or "\x00" in clip_path:
            return None
        resolved = Path(clip_path).resolve()
        return resolved if resolved.is_relative_to(self._clips_root) and resolved.is_file() else None

    def _base_row(self, task: Row) -> Row:
        return {
            "clip_id": str(task["clip_id"]),
            "score_error": None,
            "clip_model": self.params.clip.model,
            "clip_weights": self._clip.weights,
            "difficulty_formula": diff.FORMULA_VERSION,
            "difficulty_components": [],
            "params_hash": self.params_hash,
        }

    def process(self, task: Row) -> list[Row]:
        self.setup()
        row = self._base_row(task)
        path = self._clip_file(str(task.get("clip_path") or ""))
        if path is None:
            row["score_error"] = "clip_path is not an existing file inside paths.clips_dir; not opened"
            return [row]
        try:
            row.update(self.measure(path, task))
        except DecodeError as exc:
            row["score_error"] = f"decode failed: {exc}"
            return [row]
        if not row.get("flow_pairs"):
            row["score_error"] = f"too short to measure motion: {row.get('frames_decoded')} decodable frame(s)"
            return [row]
        raw = {name: row.get(name) for name in diff.COMPONENTS}
        row.update(diff.normalize_all(raw))
        row["difficulty"], row["difficulty_components"] = diff.difficulty(raw, self.params.weights, self._clip.is_real)
        if row["difficulty"] is None:
            row["score_error"] = "no difficulty component could be measured"
        return [row]

    def measure(self, path: Path, task: Row) -> Row:
        p = self.params
        with ClipVideo(path) as video:
            n = video.num_frames
            fps = float(task.get("fps") or 0) or video.avg_fps or 1.0
            duration = n / fps
            clip_idx = set(clip_frame_indices(n, fps, p.clip.sample_fps, p.clip.max_frames))
            pair_starts = set(flow_pair_starts(n, fps, p.flow.sample_fps))
            thumb_idx = sig.thumb_positions(n)
            meter = FlowMeter(p.flow, fps, self._dis)
            cuts = sig.CutScanner(p.analysis_width, p.cut_threshold, p.cut_ratio, p.cut_pixel_threshold)
            clip_frames: list[np.ndarray] = []
            sharp, expo, complexity = [], [], []
            thumbs: dict[int, np.ndarray] = {}
            first_grey: np.ndarray | None = None
            decoded = 0
            for i, rgb in video.iter_frames():
                decoded += 1
                cuts.add(rgb)
                if i in clip_idx:
                    clip_frames.append(rgb.copy())
                    grey = sig.to_grey(rgb)
                    sharp.append(sig.sharpness(grey))
                    expo.append(sig.exposure(grey))
                if i in thumb_idx:
                    thumbs[i] = sig.thumbnail(rgb)
                if i in pair_starts or (i - 1) in pair_starts:
                    small = sig.resize_width(sig.to_grey(rgb), p.flow.width)
                    if (i - 1) in pair_starts and first_grey is not None:
                        meter.add_pair(first_grey, small, (i - 0.5) / fps)
                    if i in pair_starts:
                        first_grey = small
                        complexity.append(sig.spatial_complexity(small))
        out: Row = {
            "frames_decoded": decoded,
            "clip_frames": len(clip_frames),
            "spatial_complexity": float(np.mean(complexity)) if complexity else None,
            "cuts": cuts.cuts(),
            "sharpness": float(np.mean(sharp)) if sharp else None,
            "exposure": float(np.mean(expo)) if expo else None,
            "thumb_signature": np.concatenate([thumbs[i] for i in thumb_idx]).tolist(),
        }
        out["cut_density"] = out["cuts"] / duration if duration > 0 else 0.0
        out.update(meter.result(duration))
        out.update(self.clip_signals(clip_frames, task.get("caption")))
        return out

    def clip_signals(self, frames: list[np.ndarray], caption: str | None) -> Row:
        emb = self._clip.encode_frames(frames, self.params.clip.batch_size)
        mean = emb.mean(axis=0)
        mean = mean / max(1e-12, float(np.linalg.norm(mean)))
        consec = np.sum(emb[1:] * emb[:-1], axis=1) if len(emb) > 1 else np.ones(1)
        sim = None
        if caption is not None and str(caption).strip():
            sim = float(np.dot(self._clip.encode_text(str(caption)), mean))
        return {
            "clip_embedding": mean.astype(np.float32).tolist(),
            "semantic_change": float(1.0 - np.mean(consec)),
            "caption_similarity": sim,
        }
