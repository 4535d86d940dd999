"""Encode raw frames (fed one at a time on stdin) into a normalized H.264 mp4.

The output is byte-deterministic for the same frames and settings: x264 with a
fixed thread count, fixed keyframe interval (`-g N -keyint_min N -sc_threshold 0`),
yuv420p, no audio, `+bitexact` muxer/codec flags and no copied metadata.
mp4 needs a seekable output (the index is written at the end, then moved to the
front by `+faststart`), so the caller passes a temp file path and renames it
when `finish()` returns.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curation.media.geometry import fps_arg
from curation.media.probe import clean_log


class EncodeError(RuntimeError):
    pass


@dataclass(frozen=True)
class EncodeSettings:
    fps: float
    gop: int  # keyframe interval in frames
    crf: int = 20
    preset: str = "veryfast"
    threads: int = 1

    def output_args(self) -> list[str]:
        return [
            "-an", "-sn", "-dn",
            "-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf),
            "-g", str(self.gop), "-keyint_min", str(self.gop), "-sc_threshold", "0",
            "-pix_fmt", "yuv420p", "-threads", str(self.threads),
            "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1", "-map_chapters", "-1",
            "-movflags", "+faststart", "-f", "mp4",
        ]  # fmt: skip


class ClipEncoder:
    """One ffmpeg/libx264 process writing `out_path` from raw frames of a fixed size.

    `pix_fmt` is the layout of the frames written: rgb24 (converted to yuv420p by
    ffmpeg) or yuv420p (encoded as they are: no colour conversion at all)."""

    def __init__(self, out_path: str | Path, width: int, height: int, settings: EncodeSettings, ffmpeg: str = "ffmpeg", pix_fmt: str = "rgb24"):
        if pix_fmt not in ("rgb24", "yuv420p"):
            raise ValueError("pix_fmt must be rgb24 or yuv420p")
        self.out_path = Path(out_path)
        self.width, self.height = int(width), int(height)
        self.frame_bytes = self.width * self.height * 3 // (2 if pix_fmt == "yuv420p" else 1)
        self.frames = 0
        self._stderr = tempfile.TemporaryFile()
        args = [ffmpeg, "-hide_banner", "-nostats", "-loglevel", "error", "-y"]
        args += ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{self.width}x{self.height}", "-framerate", fps_arg(settings.fps), "-i", "pipe:0"]
        args += settings.output_args() + ["file:" + str(self.out_path.resolve())]
        self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr, bufsize=0)

    def _error(self, what: str) -> EncodeError:
        self._stderr.seek(0)
        tail = clean_log(self._stderr.read().decode("utf-8", "replace"))[-600:]
        return EncodeError(f"{what}: {tail or 'no message'}")

    def write(self, frame: np.ndarray | bytes | memoryview) -> None:
        data = memoryview(frame).cast("B") if not isinstance(frame, bytes) else memoryview(frame)
        if data.nbytes != self.frame_bytes:
            raise ValueError(f"frame has {data.nbytes} bytes, expected {self.frame_bytes}")
        try:
            self._proc.stdin.write(data)
        except (BrokenPipeError, OSError):
            self._proc.wait()
            raise self._error("encoder exited early") from None
        self.frames += 1

    def finish(self) -> int:
        """Close stdin, wait for the encoder to write the whole file; returns frames written."""
        with contextlib.suppress(BrokenPipeError, OSError):
            self._proc.stdin.close()
        rc = self._proc.wait()
        try:
            if rc != 0:
                raise self._error(f"ffmpeg encoder exit code {rc}")
        finally:
            self._stderr.close()
        return self.frames

    def abort(self) -> None:
        """Stop the encoder and delete its output."""
        if self._proc.poll() is None:
            self._proc.kill()
        with contextlib.suppress(Exception):
            self._proc.stdin.close()
        self._proc.wait()
        with contextlib.suppress(Exception):
            self._stderr.close()
        with contextlib.suppress(FileNotFoundError):
            self.out_path.unlink()
