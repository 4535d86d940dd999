"""A corpus of awkward and broken inputs, for tests and for trying the pipeline's error handling.

`make_bad_corpus(out)` writes every case below with real ffmpeg encodes plus
byte-level damage, and returns `{relative path: expected outcome}`:
"accept" for files a careful pipeline must turn into clips, or
"reject:<reason family>" for files it must reject with a reason.  Reason
families are matched as substrings of the rejects table's `reason` column, so
the ingest code is free to be more specific.

Cases: truncated mp4 with the moov atom missing; truncated faststart mp4
(probes fine, fails mid-decode); random bytes named .mp4; audio-only mp4;
zero-length file; 1-frame video; variable frame rate; rotated (display
matrix); 10-bit yuv420p10; odd dimensions (853x479); very tall portrait; a
name with spaces, quotes, unicode and a leading dash; a symlink loop (a
file symlink that points at itself, and a directory symlink back to the
root, which discovery must not follow forever); the same video twice
under two names.

All ffmpeg calls use argument lists; nothing here touches a shell.
"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

ACCEPT = "accept"

# name -> expected outcome (relative to the corpus root)
EXPECTED: dict[str, str] = {
    "ok_reference.mp4": ACCEPT,
    "truncated_moov_missing.mp4": "reject:",  # any reason: probe fails
    "truncated_faststart.mp4": "reject:",  # probes, then fails to decode to the end
    "random_bytes.mp4": "reject:",
    "audio_only.mp4": "reject:no_video",
    "zero_length.mp4": "reject:zero",
    "one_frame.mp4": "reject:",  # shorter than any sensible min clip length
    "variable_fps.mkv": ACCEPT,
    "rotated_90.mp4": ACCEPT,
    "ten_bit.mp4": ACCEPT,
    "odd_853x479.mkv": ACCEPT,
    "tall_portrait.mp4": ACCEPT,
    "-we'ird \"name\" ñ 映像.mp4": ACCEPT,
    "self_loop.mp4": "reject:",  # symlink to itself: cannot be opened
    "dupe_a.mp4": ACCEPT,
    "dupe_b.mp4": "reject:duplicate",
}


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def _x264(src: str, seconds: float, out: Path, *extra: str, size: str = "320x240", fps: int = 25) -> None:
    _ffmpeg(
        "-f", "lavfi", "-i", f"{src}=size={size}:rate={fps}", "-t", f"{seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-fflags", "+bitexact", "-map_metadata", "-1", *extra, "--", str(out),
    )


def make_bad_corpus(out: str | Path, seconds: float = 3.0, seed: int = 0) -> dict[str, str]:
    """Write the bad-input corpus into `out` (created) and return the expected outcomes."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)

    _x264("testsrc2", seconds, out / "ok_reference.mp4")

    # moov at the end (default mp4 muxing), cut in half: no moov, ffprobe fails
    full = out / ".full.mp4"
    _x264("mandelbrot", seconds, full)
    data = full.read_bytes()
    (out / "truncated_moov_missing.mp4").write_bytes(data[: len(data) // 2])
    # moov at the front: probes fine (duration known), media data cut short
    _x264("mandelbrot", seconds, full, "-movflags", "+faststart")
    data = full.read_bytes()
    (out / "truncated_faststart.mp4").write_bytes(data[: int(len(data) * 0.4)])
    full.unlink()

    (out / "random_bytes.mp4").write_bytes(bytes(rng.getrandbits(8) for _ in range(64 * 1024)))
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050", "-t", f"{seconds}", "-c:a", "aac",
            "-fflags", "+bitexact", "-map_metadata", "-1", "--", str(out / "audio_only.mp4"))
    (out / "zero_length.mp4").write_bytes(b"")
    _x264("testsrc2", 1 / 25, out / "one_frame.mp4", "-frames:v", "1")

    # variable frame rate: frame spacing grows after frame 30 (timestamps kept as they are)
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", f"{seconds}",
        "-vf", "setpts='if(lt(N,30),N,30+(N-30)*2.5)/25/TB'", "-fps_mode", "vfr",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-fflags", "+bitexact", "-map_metadata", "-1", "--", str(out / "variable_fps.mkv"),
    )
    # rotation as a display matrix (remux with the rotate tag)
    plain = out / ".plain.mp4"
    _x264("mandelbrot", seconds, plain, size="320x240")
    _ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", "-fflags", "+bitexact", "--", str(out / "rotated_90.mp4"))
    plain.unlink()

    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", f"{seconds}", "-c:v", "libx264",
            "-preset", "ultrafast", "-pix_fmt", "yuv420p10le", "-fflags", "+bitexact", "-map_metadata", "-1",
            "--", str(out / "ten_bit.mp4"))
    # odd dimensions need a codec that allows them (H.264 4:2:0 does not)
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", f"{seconds}", "-vf", "scale=853:479",
            "-c:v", "ffv1", "-fflags", "+bitexact", "-map_metadata", "-1", "--", str(out / "odd_853x479.mkv"))
    _x264("testsrc2", seconds, out / "tall_portrait.mp4", size="180x1280")
    _x264("life", seconds, out / "-we'ird \"name\" ñ 映像.mp4", size="320x240")

    loop = out / "self_loop.mp4"
    if not loop.is_symlink():
        os.symlink("self_loop.mp4", loop)
    sub = out / "nested"
    sub.mkdir(exist_ok=True)
    back = sub / "back_to_root"
    if not back.is_symlink():
        os.symlink("..", back)  # directory loop: discovery must not recurse into it forever

    _x264("cellauto", seconds, out / "dupe_a.mp4", size="320x240")
    (out / "dupe_b.mp4").write_bytes((out / "dupe_a.mp4").read_bytes())
    return dict(EXPECTED)
