import numpy as np
import pytest

from curation.config import ClipModelParams
from curation.score.clip_model import RANDOM_INIT, ClipWeightsUnavailable, load_clip


def test_missing_weights_without_random_init_is_a_clear_error():
    p = ClipModelParams(model="ViT-S-32", pretrained="openai", allow_random_init=False)
    with pytest.raises(ClipWeightsUnavailable) as err:
        load_clip(p)
    msg = str(err.value)
    assert "ViT-S-32" in msg and "'openai'" in msg
    assert "allow_random_init" in msg and "checkpoint" in msg and "never downloaded" in msg


@pytest.mark.slow
def test_known_tag_not_in_cache_is_refused_offline():
    """ViT-B-32/openai is a real tag; with an empty cache, loading fails (the Hub is forced offline)."""
    with pytest.raises(ClipWeightsUnavailable, match="pretrained='openai'") as err:
        load_clip(ClipModelParams(model="ViT-B-32", pretrained="openai", allow_random_init=False))
    assert "local cache" in str(err.value)


def test_null_pretrained_needs_random_init_and_unknown_model_is_refused():
    with pytest.raises(ClipWeightsUnavailable, match="pretrained is null"):
        load_clip(ClipModelParams(model="ViT-S-32", pretrained=None))
    with pytest.raises(ClipWeightsUnavailable, match="not an open_clip model"):
        load_clip(ClipModelParams(model="No-Such-Model", pretrained=None, allow_random_init=True))


@pytest.mark.slow
def test_random_init_is_seeded_and_checkpoint_path_loads_real_weights(tmp_path):
    import torch

    p = ClipModelParams(model="ViT-S-32", pretrained=None, allow_random_init=True, seed=3)
    a, b = load_clip(p), load_clip(p)
    assert a.weights == RANDOM_INIT and not a.is_real
    frames = [np.full((64, 96, 3), v, np.uint8) for v in (30, 200)]
    ea, eb = a.encode_frames(frames, 2), b.encode_frames(frames, 2)
    assert ea.shape == (2, a.model.visual.output_dim) and np.allclose(np.linalg.norm(ea, axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(ea, eb)  # same seed, same weights, same embeddings

    ckpt = tmp_path / "clip.pt"
    torch.save(a.model.state_dict(), ckpt)
    c = load_clip(ClipModelParams(model="ViT-S-32", pretrained=str(ckpt), allow_random_init=False))
    assert c.weights == f"checkpoint:{ckpt}" and c.is_real
    np.testing.assert_allclose(c.encode_frames(frames, 2), ea, atol=1e-5)
    t = c.encode_text("a red ball")
    assert t.shape == (ea.shape[1],) and abs(float(np.linalg.norm(t)) - 1) < 1e-5
