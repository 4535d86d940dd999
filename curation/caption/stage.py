"""The caption Stage: one clip row in, one caption row out (sidecar, else captioner, else a reason).

The row has every CAPTIONS column except `text_embeddings`-related ones
(`text_encoder`, `embedding_row`), which `run_caption` fills after encoding all
captions in one pass.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from curation.caption import language as lang_mod
from curation.caption.captioner import CaptionBackend, CaptionerUnavailable, CaptionResult, load_captioner
from curation.caption.frames import FrameError, read_clip_frames
from curation.caption.sidecars import SidecarReader
from curation.caption.vocabulary import Vocabulary
from curation.config import CaptionParams
from curation.stage import Row, Stage

TASK_COLUMNS = ("clip_id", "clip_path", "source_path", "start_s", "end_s")


def _first_line(text: str, limit: int = 200) -> str:
    s = str(text).strip()
    return (s.splitlines()[0] if s else "")[:limit]


def uncaptioned_row(clip_id: str, reason: str, default_language: str, issues: list[str] | None = None) -> Row:
    return {
        "clip_id": clip_id,
        "caption": None,
        "caption_source": "none",
        "language": default_language,
        "language_source": lang_mod.DEFAULT,
        "tags": [],
        "tag_categories": [],
        "captioner_weights": None,
        "caption_raw": None,
        "uncaptioned_reason": reason,
        "sidecar_issues": list(issues or []),
    }


class CaptionStage(Stage):
    name = "caption"

    def __init__(self, params: CaptionParams, raw_dir: str | Path, clips_dir: str | Path, threads: int = 1):
        self.params = params
        self.raw_dir = str(raw_dir)
        self.clips_dir = str(clips_dir)
        self.threads = max(1, int(threads))
        self._ready = False

    # ------------------------------------------------------------------ per worker
    def setup(self) -> None:
        if self._ready:
            return
        self._vocab = Vocabulary.load(self.params.vocabulary)
        self._sidecars = SidecarReader(self.raw_dir, self.params.sidecar_extensions, self.params.max_sidecar_bytes)
        self._clips_root = Path(self.clips_dir).resolve()
        self._captioner: CaptionBackend | None = None
        self._captioner_error: str | None = None
        try:
            import torch

            torch.set_num_threads(self.threads)
            self._captioner = load_captioner(self.params.captioner)
        except CaptionerUnavailable as exc:
            self._captioner_error = str(exc)
        except Exception as exc:  # a broken model dir must not take the worker pool down
            self._captioner_error = f"captioner could not be loaded: {self.params.captioner.model_id} ({type(exc).__name__}: {_first_line(exc)})"
        self._ready = True

    def __getstate__(self) -> dict[str, Any]:  # ship only the params to workers, never a loaded model
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")} | {"_ready": False}

    # ------------------------------------------------------------------ per clip
    def _clip_file(self, clip_path: str) -> Path | None:
        p = Path(clip_path)
        if "\x00" in clip_path or not clip_path:
            return None
        resolved = p.resolve()
        return resolved if resolved.is_relative_to(self._clips_root) else None

    def _caption_with_model(self, task: Row) -> tuple[CaptionResult | None, str | None]:
        """(caption result, None) or (None, reason)."""
        if self._captioner is None:
            return None, self._captioner_error or "captioner not loaded"
        clip = self._clip_file(str(task.get("clip_path") or ""))
        if clip is None:
            return None, "clip_path is not inside paths.clips_dir; not opened"
        try:
            frames = read_clip_frames(clip, self.params.captioner.frames)
        except FrameError as exc:
            return None, f"frames not readable: {exc}"
        result = self._captioner.caption_clips([frames.frames], [frames.timing])[0]
        if not result.text:
            return None, f"captioner produced an empty caption ({self._captioner.name})"
        return result, None

    def process(self, task: Row) -> list[Row]:
        self.setup()
        p = self.params
        clip_id = str(task["clip_id"])
        side, issues = self._sidecars.lookup(str(task.get("source_path") or ""), float(task["start_s"]), float(task["end_s"]))
        if side is not None:
            caption, source, weights, side_lang, raw = side.caption, f"sidecar:{side.kind}", None, side.language, None
        else:
            result, reason = self._caption_with_model(task)
            if result is None:
                return [uncaptioned_row(clip_id, reason or "no caption", p.default_language, issues)]
            assert self._captioner is not None
            caption, raw = result.text, result.raw
            source, weights, side_lang = self._captioner.source, self._captioner.weights, None
        language, language_source = lang_mod.resolve(caption, side_lang, p.default_language, p.language_min_confidence)
        tags, cats = self._vocab.tag(caption, None if language_source == lang_mod.DEFAULT else language)
        return [
            {
                "clip_id": clip_id,
                "caption": caption,
                "caption_source": source,
                "language": language,
                "language_source": language_source,
                "tags": tags,
                "tag_categories": cats,
                "captioner_weights": weights,
                "caption_raw": raw,
                "uncaptioned_reason": None,
                "sidecar_issues": issues,
            }
        ]


def default_threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))
