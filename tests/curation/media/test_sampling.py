from curation.media.sampling import even_indices


def test_even_indices_are_segment_centres():
    assert even_indices(32, 1) == [16]
    assert even_indices(30, 3) == [5, 15, 25]
    assert even_indices(10, 4) == [1, 3, 6, 8]
    assert even_indices(2, 5) == [0, 1]  # never more than there are
    assert even_indices(0, 3) == [] and even_indices(5, 0) == []
