"""A per-item stage that embeds texts with `caption.text_encoder` (one item per distinct text).

Used where a text exists only after the caption stage: the shard stage's enriched training
captions (`caption.append_signals`).  Keyed by the text's sha256, so the driver reuses every
embedding it has made before; each text's bytes do not depend on its batch (batched only with
a batch-invariant encoder, as in the caption stage).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pyarrow as pa

from curation.config import TextEncoderParams
from curation.stage import Resources, Row, Stage

TEXT_EMBEDDINGS = pa.schema(
    [
        pa.field("text_sha256", pa.string(), nullable=False),
        pa.field("text_embedding", pa.list_(pa.float32())),
        pa.field("text_encoder", pa.string()),
    ]
)
VERSION = "text-embed-1"


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TextEmbedStage(Stage):
    name = "text-embed"
    resources = Resources(cpus=1)
    batch_size = 32

    def __init__(self, params: TextEncoderParams):
        self.params = params
        self._encoder = None

    def __getstate__(self) -> dict[str, Any]:
        return {"params": self.params, "_encoder": None}

    def setup(self) -> None:
        if self._encoder is None:
            from curation.caption.text_encoder import load_text_encoder

            self._encoder = load_text_encoder(self.params)

    def process(self, task: Row) -> list[Row]:
        return self.process_batch([task])[0]

    def process_batch(self, tasks: list[Row]) -> list[list[Row]]:
        self.setup()
        enc = self._encoder
        texts = [str(t["text"]) for t in tasks]
        vecs = list(enc.encode(texts)) if getattr(enc, "batch_invariant", False) else [enc.encode([x])[0] for x in texts]
        return [[{"text_sha256": t["text_sha256"], "text_embedding": np.asarray(v, np.float32).tolist(), "text_encoder": enc.name}] for t, v in zip(tasks, vecs, strict=True)]
