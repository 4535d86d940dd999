"""Streaming decode: one ffmpeg process per source, raw frames read from a pipe one at a time.

Memory stays flat whatever the video length: one frame buffer is reused for
every frame (copy a frame if you keep it).  ffmpeg's autorotate applies the
display matrix, `fps=` resamples to the target rate, an optional `crop=` keeps the
picture inside black bars (`crop=(x, y, w, h)`, see `curation.media.blackbars`), `scale=` resizes to
the exact size the caller asked for (so frame byte sizes are known up front).
"""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curation.media.geometry import fps_arg
from curation.media.probe import clean_log, ffmpeg_url

_F_SETPIPE_SZ = 1031  # Linux


@dataclass(frozen=True)
class DecodeResult:
    frames: int
    returncode: int
    stderr_tail: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.frames > 0


def _tail(fh, limit: int = 600) -> str:
    fh.seek(0, 2)
    size = fh.tell()
    fh.seek(max(0, size - 4 * limit))
    return clean_log(fh.read().decode("utf-8", "replace"))[-limit:]


def _grow_pipe(fd: int, size: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, _F_SETPIPE_SZ, min(max(size, 65536), 1 << 20))


class FrameReader:
    """Iterate decoded frames of one video stream as (H, W, C) uint8 arrays (rgb24, gray) or
    flat yuv420p buffers (split them with `yuv420p_planes`).

    >>> with FrameReader(path, width=320, height=180, fps=16) as reader:
    ...     for frame in reader:  # a view into a reused buffer
    ...         ...
    >>> reader.result  # DecodeResult(frames, returncode, stderr_tail)
    """

    def __init__(
        self,
        path: str | Path,
        *,
        width: int,
        height: int,
        fps: float | None,
        stream_index: int | None = None,
        threads: int = 1,
        pix_fmt: str = "rgb24",
        exit_on_error: bool = True,
        ffmpeg: str = "ffmpeg",
        crop: tuple[int, int, int, int] | None = None,
    ):
        if pix_fmt not in ("rgb24", "gray", "yuv420p"):
            raise ValueError("pix_fmt must be rgb24, gray or yuv420p")
        self.path = Path(path)
        self.width, self.height = int(width), int(height)
        if pix_fmt == "yuv420p" and (self.width % 2 or self.height % 2):
            raise ValueError("yuv420p needs an even width and height")
        self.pix_fmt = pix_fmt
        self.channels = {"rgb24": 3, "gray": 1, "yuv420p": 1}[pix_fmt]
        self.frame_bytes = self.width * self.height * 3 // 2 if pix_fmt == "yuv420p" else self.width * self.height * self.channels
        filters = [f"fps={fps_arg(fps)}"] if fps else []
        if crop is not None:  # (x, y, w, h) in decoded-frame pixels (after autorotate), e.g. curation.media.blackbars
            x, y, w, h = (int(v) for v in crop)
            filters.append(f"crop={w}:{h}:{x}:{y}")
        filters += [f"scale={self.width}:{self.height}:flags=bicubic", "setsar=1"]
        self.args = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error"]
        if exit_on_error:
            self.args.append("-xerror")
        self.args += ["-threads", str(threads), "-i", ffmpeg_url(self.path)]
        self.args += ["-map", f"0:{stream_index}" if stream_index is not None else "0:v:0", "-an", "-sn", "-dn"]
        self.args += ["-vf", ",".join(filters), "-filter_threads", str(max(1, threads)), "-pix_fmt", pix_fmt, "-f", "rawvideo", "pipe:1"]
        self._proc: subprocess.Popen | None = None
        self._stderr = None
        self.frames = 0
        self.result: DecodeResult | None = None

    def __enter__(self) -> "FrameReader":
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, bufsize=0)
        _grow_pipe(self._proc.stdout.fileno(), self.frame_bytes)
        return self

    def __iter__(self) -> Iterator[np.ndarray]:
        assert self._proc is not None, "use FrameReader as a context manager"
        buf = bytearray(self.frame_bytes)
        view = memoryview(buf)
        if self.pix_fmt == "yuv420p":
            shape: tuple[int, ...] = (self.frame_bytes,)  # planes: see yuv420p_planes
        else:
            shape = (self.height, self.width, self.channels) if self.channels > 1 else (self.height, self.width)
        arr = np.frombuffer(buf, dtype=np.uint8).reshape(shape)
        stdout = self._proc.stdout
        while True:
            got = 0
            while got < self.frame_bytes:
                n = stdout.readinto(view[got:])
                if not n:
                    break
                got += n
            if got < self.frame_bytes:  # EOF (a partial trailing frame is discarded)
                return
            self.frames += 1
            yield arr

    def close(self) -> DecodeResult:
        if self.result is not None:
            return self.result
        proc = self._proc
        rc = -1
        if proc is not None:
            with contextlib.suppress(Exception):
                proc.stdout.close()
            try:
                rc = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
        tail = _tail(self._stderr) if self._stderr is not None else ""
        if self._stderr is not None:
            self._stderr.close()
        self.result = DecodeResult(self.frames, rc, tail)
        return self.result

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.kill()
        self.close()


def decodes_frame(path: str | Path, stream_index: int | None = None, seek_s: float | None = None, timeout: float = 120) -> tuple[bool, str]:
    """Can at least one frame be decoded (from the start, or from `seek_s` on)? -> (ok, stderr tail)."""
    args = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-threads", "1"]
    if seek_s is not None and seek_s > 0:
        args += ["-ss", f"{seek_s:.6f}"]
    args += ["-i", ffmpeg_url(path), "-map", f"0:{stream_index}" if stream_index is not None else "0:v:0"]
    args += ["-frames:v", "1", "-vf", "scale=8:8", "-pix_fmt", "gray", "-f", "rawvideo", "pipe:1"]
    try:
        proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"no frame decoded within {timeout:.0f} s"
    err = clean_log(proc.stderr.decode("utf-8", "replace"))[-400:]
    return len(proc.stdout) >= 64, err


def yuv420p_planes(buf: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views (Y [h, w], U [h/2, w/2], V [h/2, w/2]) into one flat yuv420p frame."""
    n = width * height
    q = n // 4
    return buf[:n].reshape(height, width), buf[n : n + q].reshape(height // 2, width // 2), buf[n + q : n + 2 * q].reshape(height // 2, width // 2)
