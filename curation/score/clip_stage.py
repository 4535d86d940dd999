"""The CLIP part of score: batched embeddings of clip frames and of caption texts.

`ClipEmbedStage` follows `MeasureStage` in the score chain: it pops each row's
`_frames`, embeds the frames of all rows of its batch together in fixed-size padded
forward passes (`LoadedClip.encode_frames`), and adds per clip

    clip_embedding    L2-normalized mean of the frame embeddings
    semantic_change   1 - mean cosine of consecutive frame embeddings
    clip_frames       frames embedded

plus `clip_weights` and `clip_precision` on every row.  It loads the vision tower only.
With `score.clip.device: cuda` it declares a GPU, so the engines run it on GPU workers
while CPU workers decode (the GPU never waits on one clip's decode).

`ClipTextStage` embeds distinct caption texts with the text tower (its own per-item
stage, keyed by the text's hash), for `caption_similarity` in the combine step.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pyarrow as pa

from curation.config import ClipModelParams
from curation.devices import check_cuda, is_cuda
from curation.score.measure import FRAMES
from curation.stage import Resources, Row, Stage

CLIP_TEXT = pa.schema(
    [
        pa.field("text_sha256", pa.string(), nullable=False),
        pa.field("clip_text_embedding", pa.list_(pa.float32())),
    ]
)


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _ClipStage(Stage):
    tower = "both"

    def __init__(self, params: ClipModelParams, weights: str, precision: str, threads: int = 1):
        self.params = params
        self.threads = max(1, int(threads))
        self.weights = weights  # the label the driver expects (weights_label)
        self.precision = precision
        gpu = is_cuda(params.device)
        self.resources = Resources(cpus=1, gpus=1 if gpu else 0, memory_gb=1.5)
        self._clip = None

    def __getstate__(self) -> dict[str, Any]:  # ship params to workers, never a loaded model
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")} | {"_clip": None}

    def check(self) -> None:
        check_cuda(self.params.device, "score.clip.device")

    def setup(self) -> None:
        if self._clip is not None:
            return
        import torch

        from curation.score.clip_model import load_clip

        torch.set_num_threads(self.threads)
        self._clip = load_clip(self.params, tower=self.tower, precision=self.precision)

    def loaded(self):
        self.setup()
        if self._clip.weights != self.weights:
            raise RuntimeError(f"this worker loaded CLIP weights {self._clip.weights!r}, the run expects {self.weights!r} (a damaged cache file?)")
        return self._clip


class ClipEmbedStage(_ClipStage):
    name = "score-clip"
    tower = "vision"
    batch_size = 8  # clips per call; their frames go through CLIP in padded batches of score.clip.batch_size

    def process(self, task: Row) -> list[Row]:
        return self.process_batch([task])[0]

    def process_batch(self, tasks: list[Row]) -> list[list[Row]]:
        clip = self.loaded()
        frames: list[np.ndarray] = []
        spans: list[tuple[int, int]] = []
        for t in tasks:
            f = t.pop(FRAMES, None) or []
            spans.append((len(frames), len(frames) + len(f)))
            frames.extend(f)
        emb = clip.encode_frames(frames, self.params.batch_size) if frames else np.zeros((0, 0), np.float32)
        del frames
        out = []
        for t, (a, b) in zip(tasks, spans, strict=True):
            row = dict(t)
            row["clip_weights"], row["clip_precision"] = clip.weights, clip.precision
            if b > a:
                e = emb[a:b]
                mean = e.mean(axis=0)
                mean = mean / max(1e-12, float(np.linalg.norm(mean)))
                consec = np.sum(e[1:] * e[:-1], axis=1) if len(e) > 1 else np.ones(1)
                row["clip_embedding"] = mean.astype(np.float32).tolist()
                row["semantic_change"] = float(1.0 - np.mean(consec))
                row["clip_frames"] = b - a
            out.append([row])
        return out


class ClipTextStage(_ClipStage):
    name = "score-clip-text"
    tower = "text"
    batch_size = 32

    def process(self, task: Row) -> list[Row]:
        return self.process_batch([task])[0]

    def process_batch(self, tasks: list[Row]) -> list[list[Row]]:
        clip = self.loaded()
        emb = clip.encode_texts([str(t["text"]) for t in tasks], self.params.batch_size)
        return [[{"text_sha256": t["text_sha256"], "clip_text_embedding": e.astype(np.float32).tolist()}] for t, e in zip(tasks, emb, strict=True)]
