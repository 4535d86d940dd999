"""`MeasureStage`: the CPU part of score. One clip in, its measured signals (+ its CLIP frames) out.

The clip is decoded once (`curation.score.frames`); optical flow pairs, the residual cut
scan (the one detector of `curation.media.cuts`), thumbnails and the cheap signals are
measured as frames go by, and the frames CLIP will embed are kept (at most
`score.clip.max_frames`) and handed to the next stage of the chain in the row's
`_frames` key (`curation.score.clip_stage.ClipEmbedStage` pops them).  Memory per clip
is bounded by the decode chunk and `max_frames`, never by the clip length.

The curation signals ride on the same pass, on what it already has (no second decode, no
second flow):

* camera motion (`curation.score.camera.CameraMotionMeter`, score.camera): the DIS flow
  `FlowMeter.add_pair` returns for each pair, with the pair's first grey frame at the flow
  width (flat areas left out of the fit);
* persistent overlays (`curation.score.overlay.OverlayDetector`, score.overlay): the
  full-resolution grey of each pair's first frame (~4 per second);
* content flags (`curation.score.content`, score.content): the CLIP frames (picture
  statistics) and the grey flow-pair frames (static pairs, slide changes), then
  `content_flags` with the residual cut count and flow_mean.

All three keep O(1) state per clip (a few sums, three 256-px counter arrays, one thumbnail).

A clip that cannot be decoded, or whose path is not inside `paths.clips_dir`, gets a row
with `score_error` (no frames); it is excluded from the tiers later.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from curation.config import CutParams, ScoreParams
from curation.io.paths import inside_or_none
from curation.media.cuts import CutDetector, resize_width
from curation.score import signals as sig
from curation.score.camera import CameraMotionMeter
from curation.score.content import ContentMeter, content_flags
from curation.score.flow import FlowMeter, make_dis
from curation.score.frames import ClipVideo, DecodeError, clip_frame_indices, flow_pair_starts
from curation.score.overlay import OverlayDetector
from curation.stage import Resources, Row, Stage

#: columns of clips.parquet a task needs
TASK_COLUMNS = ("clip_id", "clip_path", "fps", "num_frames", "duration_s")

FRAMES = "_frames"  # the row key carrying the CLIP frames to the next stage


class MeasureStage(Stage):
    name = "score-measure"
    resources = Resources(cpus=1, memory_gb=0.5)
    batch_size = 4

    def __init__(self, params: ScoreParams, cuts: CutParams, clips_dir: str | Path, params_hash: str):
        self.params = params
        self.cuts = cuts
        # resolved here, in the driver (a worker on another node has another working directory)
        self.base_dir = os.getcwd()
        self.clips_dir = os.path.abspath(clips_dir)
        self.params_hash = params_hash
        self._dis = None

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")} | {"_dis": None}

    def setup(self) -> None:
        if self._dis is not None:
            return
        import cv2

        cv2.setNumThreads(1)  # DIS on 160-px frames: threads cost more than they give; keeps results deterministic
        self._dis = make_dis(self.params.flow.preset)

    def base_row(self, clip_id: str) -> Row:
        return {"clip_id": clip_id, "score_error": None, "clip_model": self.params.clip.model, "content_flags": [], "params_hash": self.params_hash}

    def process(self, task: Row) -> list[Row]:
        self.setup()
        row = self.base_row(str(task["clip_id"]))
        path = inside_or_none(self.clips_dir, str(task.get("clip_path") or ""), base=self.base_dir)
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
            row.pop(FRAMES, None)
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
            camera = CameraMotionMeter(fps, p.camera)
            overlay = OverlayDetector(p.overlay)
            content = ContentMeter(p.content)
            cuts = CutDetector.from_params(self.cuts)
            clip_frames: list[np.ndarray] = []
            sharp, expo, complexity = [], [], []
            thumbs: dict[int, np.ndarray] = {}
            first_grey: np.ndarray | None = None
            decoded = 0
            for i, rgb in video.iter_frames():
                decoded += 1
                cuts.update_rgb(rgb)
                in_pair = i in pair_starts or (i - 1) in pair_starts
                grey = sig.to_grey(rgb) if (i in clip_idx or in_pair) else None
                if i in clip_idx:
                    clip_frames.append(rgb.copy())
                    sharp.append(sig.sharpness(grey))
                    expo.append(sig.exposure(grey))
                    content.add_picture(rgb)
                if i in thumb_idx:
                    thumbs[i] = sig.thumbnail(rgb)
                if in_pair:
                    small = resize_width(grey, p.flow.width)
                    if (i - 1) in pair_starts and first_grey is not None:
                        flow = meter.add_pair(first_grey, small, (i - 0.5) / fps)
                        camera.add(flow, first_grey)
                        content.add_pair(first_grey, small)
                    if i in pair_starts:
                        first_grey = small
                        complexity.append(sig.spatial_complexity(small))
                        overlay.add(grey)
        out: Row = {
            "frames_decoded": decoded,
            "spatial_complexity": float(np.mean(complexity)) if complexity else None,
            "cuts": cuts.cuts,
            "sharpness": float(np.mean(sharp)) if sharp else None,
            "exposure": float(np.mean(expo)) if expo else None,
            "thumb_signature": np.concatenate([thumbs[i] for i in thumb_idx]).tolist(),
            FRAMES: clip_frames,
        }
        out["cut_density"] = out["cuts"] / duration if duration > 0 else 0.0
        out.update(meter.result(duration))
        out.update(signal_columns(camera.result(), overlay.result(), content.summary()))
        out["content_flags"] = content_flags(content.summary(), out["cuts"], out["flow_mean"], p.content) if out["flow_pairs"] else []
        return out


def signal_columns(camera: dict, overlay: dict, content: dict) -> Row:
    """The stored columns (schemas.SCORE_MEASURES) of the camera / overlay / content results."""
    return {
        "camera_motion": camera["camera_motion"],
        "camera_motion_confidence": camera["camera_motion_confidence"],
        "camera_speed": camera["camera_speed"],
        "object_motion": camera["object_motion"],
        "camera_inlier_share": camera["camera_inlier_share"],
        "pan_speed": camera["pan_speed"],
        "tilt_speed": camera["tilt_speed"],
        "zoom_speed": camera["zoom_speed"],
        "rotation_speed": camera["rotation_speed"],
        "overlay_fraction": overlay["overlay_fraction"],
        "overlay_box": overlay["overlay_box"],
        "overlay_boxes": overlay["overlay_boxes"] if overlay["overlay_fraction"] is not None else None,
        "screen_share": content["screen_share"],
        "static_share": content["static_share"],
        "slide_changes": content["slide_changes"],
    }
