import os

from curation.ingest.discover import discover_videos


def test_sorted_filtered_and_loop_safe(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    for rel in ["z.mp4", "b/y.MKV", "a/x.mov", "a/notes.txt", ".hidden.mp4", "a/.clip.mp4.tmp-1234"]:
        (tmp_path / rel).write_bytes(b"x")
    os.symlink("..", tmp_path / "a" / "loop")  # directory loop back to the root
    os.symlink(tmp_path / "b", tmp_path / "b_again")  # a second way into b: visited once
    os.symlink("gone.mp4", tmp_path / "dangling.mp4")  # kept, so ingest can reject it with a reason
    got = discover_videos(tmp_path, [".mp4", ".mkv", ".mov"])
    assert got == sorted(got)
    assert set(got) == {"a/x.mov", "dangling.mp4", "z.mp4", "b/y.MKV"} or set(got) == {"a/x.mov", "dangling.mp4", "z.mp4", "b_again/y.MKV"}
    assert discover_videos(tmp_path, [".mp4", ".mkv", ".mov"]) == got  # deterministic


def test_missing_root(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError):
        discover_videos(tmp_path / "nope", [".mp4"])
