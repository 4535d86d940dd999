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


def _real_frames(shared_media, count: int = 12) -> list:
    """`count` RGB frames spread over the real clips of ../shared/media."""
    from curation.media.sampling import even_indices
    from curation.score.frames import ClipVideo

    clips = sorted(p for p in shared_media.iterdir() if p.suffix in (".mp4", ".mkv"))
    frames = []
    for clip in clips[:4]:
        with ClipVideo(clip) as video:
            want = set(even_indices(video.num_frames, count // 4))
            frames += [rgb.copy() for i, rgb in video.iter_frames() if i in want]
    return frames


@pytest.mark.slow
@pytest.mark.media
def test_bf16_embeddings_match_fp32_on_real_frames(shared_media):
    """score.clip.precision bf16 (bf16 weights, the AMX path) against fp32, frame by frame, on real footage."""
    p = ClipModelParams(model="ViT-B-32", pretrained=None, allow_random_init=True, seed=0)
    fp32, bf16 = load_clip(p, tower="vision", precision="fp32"), load_clip(p, tower="vision", precision="bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    frames = _real_frames(shared_media)
    assert len(frames) >= 8
    a, b = fp32.encode_frames(frames, 8), bf16.encode_frames(frames, 8)
    cos = np.sum(a * b, axis=1)
    assert cos.min() >= 0.999, cos


@pytest.mark.slow
def test_an_embedding_does_not_depend_on_its_batch():
    """Fixed-size padded batches: a frame embeds to the same bytes whatever frames share its batch
    (what makes a resumed score run byte-identical), in fp32 and in bf16."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (96, 128, 3), dtype=np.uint8) for _ in range(7)]
    for precision in ("fp32", "bf16"):
        clip = load_clip(ClipModelParams(model="ViT-S-32", pretrained=None, allow_random_init=True), tower="vision", precision=precision)
        together = clip.encode_frames(frames, 4)  # batches [0..3], [4..6 + pad]
        alone = np.concatenate([clip.encode_frames([f], 4) for f in frames])  # each padded from 1 to 4
        shifted = clip.encode_frames(frames[3:], 4)  # frame 3 now first in its batch
        np.testing.assert_array_equal(together, alone)
        np.testing.assert_array_equal(together[3:], shifted)


@pytest.mark.slow
def test_vision_only_random_init_equals_the_full_model():
    """Workers build a random-init vision tower alone (less memory at load): same weights, same embeddings
    as the vision tower of the full seeded random-init model, in fp32 and bf16."""
    p = ClipModelParams(model="ViT-S-32", pretrained=None, allow_random_init=True, seed=5)
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (80, 144, 3), dtype=np.uint8) for _ in range(3)]
    for precision in ("fp32", "bf16"):
        vision, full = load_clip(p, tower="vision", precision=precision), load_clip(p, tower="both", precision=precision)
        assert type(vision.model).__name__ == "VisionOnly" and vision.weights == full.weights == RANDOM_INIT
        np.testing.assert_array_equal(vision.encode_frames(frames, 4), full.encode_frames(frames, 4))


def test_uncached_tag_is_refused_before_building_a_model():
    """Offline, a known tag whose weights are not cached fails fast (no model is built to find out)."""
    import time

    from curation.score.clip_model import weights_label

    t = time.monotonic()
    with pytest.raises(ClipWeightsUnavailable, match="not in the local Hugging Face cache"):
        weights_label(ClipModelParams(model="ViT-B-32", pretrained="openai", allow_random_init=False))
    assert time.monotonic() - t < 20
    assert weights_label(ClipModelParams(model="ViT-B-32", pretrained="openai", allow_random_init=True)) == (RANDOM_INIT, RANDOM_INIT)
