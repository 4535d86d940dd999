import pytest

from curation.caption.vocabulary import Vocabulary, VocabularyError, words


@pytest.fixture(scope="module")
def vocab():
    return Vocabulary.packaged()


def test_seed_vocabulary_covers_four_categories_and_languages(vocab):
    assert {"camera", "lighting", "motion", "style"} <= set(vocab.categories.values())
    for term in ["panorámica", "zoom avant", "Schwenk", "locked-off", "Zeitlupe", "contraluz", "néon"]:
        assert vocab.tag(term)[0], term


def test_tags_non_english_terms_accent_and_case_insensitive(vocab):
    assert vocab.tag("PANORAMICA aérea al ATARDECER", "es") == (["aerial", "pan", "sunset"], ["camera", "camera", "lighting"])
    assert vocab.tag("Zoom avant sur la ville, la nuit", "fr") == (["night", "zoom"], ["lighting", "camera"])
    assert vocab.tag("Ein langsamer Schwenk über die Stadt im Gegenlicht", "de") == (["backlit", "pan", "slow"], ["lighting", "camera", "motion"])
    assert vocab.tag("un zoom lent dans une fractale", "fr")[0] == ["fractal", "slow", "zoom"]
    assert vocab.tag("a lente de la cámara", "es")[0] == []  # "lente" is French-only (a lens in Spanish)


def test_static_noise_is_not_a_static_camera(vocab):
    assert vocab.tag("Flickering static noise on grey", "en")[0] == ["flickering", "noise"]
    assert vocab.tag("a static shot of a tree", "en")[0] == ["static"]


def test_whole_words_only(vocab):
    assert vocab.tag("a company of panthers in a pantry") == ([], [])
    assert vocab.tag("pan.") == (["pan"], ["camera"])


def test_longest_match_consumes_words(vocab):
    tags, _ = vocab.tag("slow motion shot of a runner", "en")
    assert tags == ["running", "slow-motion"]  # not also "slow"
    assert vocab.tag("a slow pan", "en")[0] == ["pan", "slow"]


def test_language_exclusive_terms(vocab):
    assert vocab.tag("un hombre come pan", "es")[0] == []  # bread, not a camera move
    assert vocab.tag("a quick pan to the left", "en")[0] == ["fast", "pan"]
    assert vocab.tag("the camera pans left", None)[0] == ["pan"]  # undetermined language: allowed
    assert vocab.tag("das Glas ist fast leer", "de")[0] == []


def test_custom_vocabulary_file_and_errors(tmp_path):
    p = tmp_path / "v.yaml"
    p.write_text("categories:\n  camera:\n    whip-pan:\n      en: [whip pan]\n      ja: [ホイップパン]\n", encoding="utf-8")
    v = Vocabulary.load(p)
    assert v.tag("A fast WHIP-PAN!") == (["whip-pan"], ["camera"])
    p.write_text("categories:\n  a:\n    x: {en: [foo]}\n  b:\n    y: {en: [Foo]}\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match="already maps to tag 'x'"):
        Vocabulary.load(p)
    p.write_text("categories: [1, 2]\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match="categories"):
        Vocabulary.load(p)
    with pytest.raises(VocabularyError, match="cannot read"):
        Vocabulary.load(tmp_path / "missing.yaml")


def test_words_normalization():
    assert words("Caméra à l'épaule — STRAßE") == ("camera", "a", "l", "epaule", "strasse")
