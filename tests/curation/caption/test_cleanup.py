"""Caption cleanup on the boilerplate VLMs really produce (openings quoted from VLM outputs in the wild)."""

import pytest

from curation.caption.cleanup import clean_caption, collapse, cut_sentences, split_sentences, strip_boilerplate

# (raw model output, max_sentences, truncated, expected caption)
CASES = [
    ("The video shows a person in casual clothing walking through\n  a park. The scene transitions from daylight to dusk...", 3, False,
     "A person in casual clothing walking through a park. The scene transitions from daylight to dusk..."),
    ("The video shows a hand near a cup.", 3, False, "A hand near a cup."),
    ("The video shows a NASA video detailing the plans and progress for building a moon base.", 3, False,
     "A NASA video detailing the plans and progress for building a moon base."),
    ("In this video, we see a man walk in and sit down on a red sofa.", 3, False, "A man walk in and sit down on a red sofa."),
    ("In the video, a woman pours coffee into a white mug.", 3, False, "A woman pours coffee into a white mug."),
    ("The video depicts a serene beach at sunset. Waves roll gently onto the sand. A dog runs along the shore.", 2, False,
     "A serene beach at sunset. Waves roll gently onto the sand."),
    ("Sure! Here is a description of the video: A red car drives along a coastal road.", 3, False, "A red car drives along a coastal road."),
    ("Certainly. The video features two kids playing football in a backyard.", 3, False, "Two kids playing football in a backyard."),
    ("This short clip captures a chef slicing onions on a wooden board.", 3, False, "A chef slicing onions on a wooden board."),
    ("The images show a cyclist riding up a steep hill", 3, False, "A cyclist riding up a steep hill"),
    ("A video of a cat jumping onto a table.", 3, False, "A cat jumping onto a table."),
    ("Video of a drone flying over snowy mountains.", 3, False, "A drone flying over snowy mountains."),
    ("The video is showing a woman dancing in the rain.", 3, False, "A woman dancing in the rain."),
    ("There is a dog running on grass.", 3, False, "A dog running on grass."),
    ("  **The video shows** a timelapse of clouds.  ", 3, False, "A timelapse of clouds."),
    ('"The clip begins with a close-up of a clock."', 3, False, "A close-up of a clock."),
    # the token budget cut the second sentence: it goes; a complete first sentence stays
    ("The video begins with a close-up of a clock. Then the camera pans left to reveal a busy train sta", 3, True, "A close-up of a clock."),
    # same text, not truncated (the model stopped itself): nothing is dropped
    ("A close-up of a clock. Then the camera pans left", 3, False, "A close-up of a clock. Then the camera pans left"),
    # abbreviations do not end a sentence
    ("Throughout the video, the camera slowly zooms in on Dr. Smith at a podium. He gestures with both hands. The crowd claps.", 2, False,
     "The camera slowly zooms in on Dr. Smith at a podium. He gestures with both hands."),
    # BLIP-style captions have no boilerplate: only capitalised
    ("a man riding a bike down a street", 3, False, "A man riding a bike down a street"),
    # a caption that is only boilerplate is kept rather than emptied
    ("The video shows.", 3, False, "The video shows."),
    ("", 3, False, ""),
]


@pytest.mark.parametrize(("raw", "max_sentences", "truncated", "expected"), CASES)
def test_clean_caption(raw, max_sentences, truncated, expected):
    assert clean_caption(raw, max_sentences, truncated) == expected


def test_collapse_whitespace_and_markdown():
    assert collapse("  a\tb\n\n c  ") == "a b c"
    assert collapse("**bold** and *it*") == "bold and it"
    assert collapse("'quoted'") == "quoted"


def test_strip_boilerplate_keeps_content_words():
    assert strip_boilerplate("A scene of chaos erupts in the market.") == "Chaos erupts in the market."
    assert strip_boilerplate("A man shows his phone to a friend.") == "A man shows his phone to a friend."  # no medium word: untouched
    assert strip_boilerplate("The video shows") == ""


def test_sentence_budget():
    text = "One. Two! Three? Four."
    assert split_sentences(text) == ["One.", "Two!", "Three?", "Four."]
    assert cut_sentences(text, 2) == "One. Two!"
    assert cut_sentences(text, 10) == text
    assert cut_sentences("Version 2.5 is out. Next.", 1) == "Version 2.5 is out."
    assert cut_sentences("A cut sen", 1, truncated=True) == "A cut sen"  # the only sentence stays
