"""Tasks over real ffmpeg-made files (good, corrupt, missing, skipped) for the engine tests."""

from __future__ import annotations

from pathlib import Path

from curation.stage import Row


def probe_tasks(media_factory, tmp_path: Path) -> list[Row]:
    good = [
        media_factory("eng_a.mp4", source="testsrc2", seconds=1.0, size="160x120", fps=25),
        media_factory("eng_b.mkv", source="mandelbrot", seconds=0.8, size="128x96", fps=12),
        media_factory("eng_c.mp4", source="smptebars", seconds=0.5, size="96x64", fps=30),
    ]
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)  # an mp4 header, then junk
    tasks: list[Row] = []
    for i, p in enumerate([good[0], corrupt, good[1], tmp_path / "missing.mp4", good[2], good[0]]):
        tasks.append({"name": f"t{i}-{p.name}", "path": str(p), "skip": False, "extra": [i, None, float(i) / 3], "opt": None})
    tasks.append({"name": "skipped", "path": str(good[1]), "skip": True, "extra": [], "opt": {"k": (1, 2)}})
    return tasks


#: indices of `probe_tasks` that must fail (corrupt file, missing file)
BAD = {1, 3}
SKIPPED = {6}
