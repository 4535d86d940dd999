"""Known-truth clips for the signal tests (camera motion, overlays, content flags, black bars),
made with ffmpeg, and the frames / DIS flow of a clip computed the way the score pass does.

Every clip is 16 fps H.264 (like ingest output); the "still" pictures are either a lavfi
texture (always available, so CI without ../shared/media still tests the labels) or a frame
of a real clip from ../shared/media.  Nothing here is a mock: the signals see what ffmpeg
encoded and decord decoded.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from curation.media.cuts import resize_width
from curation.score.flow import make_dis
from curation.score.frames import ClipVideo, flow_pair_starts
from curation.score.signals import to_grey
from tests.conftest import ffmpeg

FPS = 16
ENC = ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-g", "8", "-pix_fmt", "yuv420p", "-r", str(FPS)]
W, H = 320, 180  # clip size of the camera / overlay clips


# ------------------------------------------------------------------ pictures
def texture_png(path: Path, seed: int = 7, size: str = "960x540") -> Path:
    """A colourful blob texture (random noise upscaled 15x): features everywhere, as DIS likes."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        ffmpeg("-f", "lavfi", "-i", f"color=gray:s=64x36,noise=alls=100:allf=0:all_seed={seed},scale={size}:flags=bicubic,eq=contrast=1.5",
               "-frames:v", "1", "-update", "1", str(path))  # fmt: skip
    return path


def frame_png(path: Path, source: Path, at_s: float = 0.0, width: int = 960) -> Path:
    """One frame of a real clip, scaled to `width` (aspect kept), as a PNG."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        ffmpeg("-ss", f"{at_s:.3f}", "-i", "file:" + str(source.resolve()), "-frames:v", "1", "-vf", f"scale={width}:-2", "-update", "1", str(path))
    return path


def still_clip(path: Path, picture: Path, vf: str, seconds: float = 3.0) -> Path:
    """A clip made from one picture looped at 16 fps through the filter chain `vf`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-loop", "1", "-framerate", str(FPS), "-i", str(picture), "-vf", vf, "-t", f"{seconds}", *ENC, str(path))
    return path


# ------------------------------------------------------------------ camera moves (truth by construction)
#: content of a W x H window moving over a 960 x 540 picture; speeds in px/s of the 320-px clip
CAMERA_MOVES: dict[str, str] = {
    "static": f"crop={W}:{H}:320:180",
    "pan_right": f"crop={W}:{H}:x='100+t*64':y=180",  # camera moves right: content moves left
    "pan_left": f"crop={W}:{H}:x='540-t*64':y=180",
    "tilt_up": f"crop={W}:{H}:x=320:y='330-t*48'",  # camera moves up: content moves down
    "tilt_down": f"crop={W}:{H}:x=320:y='30+t*48'",
    # zoom about the centre by 2.5 % of the frame per frame (~40 %/s); the picture is upscaled 2x first so that
    # zoompan's whole-pixel window positions jitter by at most 1/6 px of the output
    "zoom_in": f"scale=1920:1080,zoompan=z='1.5+0.025*on':d=1:x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':s={W}x{H}:fps={FPS}",
    "zoom_out": f"scale=1920:1080,zoompan=z='3-0.025*on':d=1:x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':s={W}x{H}:fps={FPS}",
    "rotate": f"rotate=a='0.3*t',crop={W}:{H}",
    # hand-held shake: the window jumps to a new position up to 12 px from a fixed point on every frame
    # (ffmpeg's expression random(): a fixed-seed generator, so the clip is the same on every run)
    "shake": f"crop={W}:{H}:x='320+24*(random(0)-0.5)':y='180+24*(random(1)-0.5)'",
}


def camera_clip(path: Path, picture: Path, move: str, seconds: float = 3.0) -> Path:
    return still_clip(path, picture, CAMERA_MOVES[move], seconds)


def quadrants_clip(path: Path, picture: Path, seconds: float = 3.0) -> Path:
    """Four quadrants, each a window moving a different way (left, right, up, down): no one camera model fits."""
    half_w, half_h = W // 2, H // 2
    moves = ["x='400-t*40':y=200", "x='300+t*40':y=250", "x=350:y='300-t*30'", "x=380:y='150+t*30'"]
    chains = [f"[s{i}]crop={half_w}:{half_h}:{m}[q{i}]" for i, m in enumerate(moves)]
    graph = "[0:v]split=4[s0][s1][s2][s3];" + ";".join(chains) + ";[q0][q1][q2][q3]xstack=inputs=4:layout=0_0|w0_0|0_h0|w0_h0[v]"
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-loop", "1", "-framerate", str(FPS), "-i", str(picture), "-filter_complex", graph, "-map", "[v]", "-t", f"{seconds}", *ENC, str(path))
    return path


def moving_object_clip(path: Path, picture: Path, camera: str = "static", seconds: float = 3.0, patch_xy: tuple[int, int] = (0, 0)) -> Path:
    """A 64 x 48 patch of `picture` (at patch_xy, mirrored) crossing the frame at 80 px/s over a background moved by `camera`."""
    graph = (
        f"[0:v]split=2[bg][fg];[bg]{CAMERA_MOVES[camera]}[b];"
        f"[fg]crop=64:48:{patch_xy[0]}:{patch_xy[1]},hflip,vflip[o];"
        f"[b][o]overlay=x='20+t*80':y=60[v]"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-loop", "1", "-framerate", str(FPS), "-i", str(picture), "-filter_complex", graph, "-map", "[v]", "-t", f"{seconds}", *ENC, str(path))
    return path


# ------------------------------------------------------------------ the score pass, as the stage does it
def clip_fps(path: Path) -> float:
    with ClipVideo(path) as video:
        return video.avg_fps


def iter_flow(path: Path, width: int = 160, sample_fps: float = 4.0, preset: str = "fast") -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """(index of the first frame, first grey, second grey, DIS flow first->second) for the sampled
    adjacent pairs, exactly as MeasureStage.measure makes them (grey, area-downscaled to `width`)."""
    dis = make_dis(preset)
    with ClipVideo(path) as video:
        starts = set(flow_pair_starts(video.num_frames, video.avg_fps or FPS, sample_fps))
        first = None
        for i, rgb in video.iter_frames():
            if i in starts or (i - 1) in starts:
                small = resize_width(to_grey(rgb), width)
                if (i - 1) in starts and first is not None:
                    yield i - 1, first, small, dis.calc(first, small, None)
                if i in starts:
                    first = small


def iter_frames(path: Path, every: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """(index, RGB frame) of every `every`-th frame."""
    with ClipVideo(path) as video:
        for i, rgb in video.iter_frames():
            if i % every == 0:
                yield i, rgb


def font_file() -> str | None:
    """A TrueType font for drawtext (DejaVu on Debian), or None."""
    for p in ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        if Path(p).is_file():
            return p
    if shutil.which("fc-match"):
        out = subprocess.run(["fc-match", "-f", "%{file}", "sans:bold"], capture_output=True, text=True, check=False).stdout.strip()
        if out and Path(out).is_file():
            return out
    return None


# ------------------------------------------------------------------ overlays (truth: where they were drawn)
#: a channel logo in the top-right corner of a W x H clip: [x, y, w, h] in pixels
LOGO_BOX = (246, 10, 60, 30)


def logo_filter(font: str | None) -> str:
    """A dark translucent plate with a white frame and (when a font exists) white letters, always in LOGO_BOX."""
    x, y, w, h = LOGO_BOX
    vf = f"drawbox=x={x}:y={y}:w={w}:h={h}:color=black@0.5:t=fill,drawbox=x={x}:y={y}:w={w}:h={h}:color=white:t=2"
    if font:
        vf += f",drawtext=fontfile={font}:text='TV5':x={x + 9}:y={y + 6}:fontsize=18:fontcolor=white"
    else:  # letter-like white strokes
        vf += "".join(f",drawbox=x={x + 10 + 14 * k}:y={y + 8}:w=3:h={h - 16}:color=white:t=fill" for k in range(3))
    return vf


#: burned-in subtitles: a new line every second, centred, near the bottom (text top at y = H - 34)
SUBTITLES = ["Where are we going tonight?", "To the old harbour, I think.", "Bring the lamp, it gets dark.", "We will be back before dawn."]
SUBTITLE_TOP = H - 34


def subtitle_filter(font: str, seconds: float = 4.0) -> str:
    parts = []
    for k, line in enumerate(SUBTITLES):
        parts.append(
            f"drawtext=fontfile={font}:text='{line}':x=(w-text_w)/2:y={SUBTITLE_TOP}:fontsize=16:fontcolor=white"
            f":borderw=2:bordercolor=black:enable='between(t,{k * seconds / len(SUBTITLES):.3f},{(k + 1) * seconds / len(SUBTITLES) - 1e-3:.3f})'"
        )
    return ",".join(parts)


def overlay_clip(path: Path, picture: Path, move: str, overlay_vf: str, seconds: float = 4.0) -> Path:
    """A camera move (CAMERA_MOVES) over `picture` with `overlay_vf` drawn on top (fixed in the frame)."""
    return still_clip(path, picture, CAMERA_MOVES[move] + ("," + overlay_vf if overlay_vf else ""), seconds)


# ------------------------------------------------------------------ screen content, stills, slideshows
CLIP_W, CLIP_H = 456, 256  # ingest's normalized size for 16:9 (short side 256)
CHROMIUM = "/usr/bin/chromium"

SETTINGS_PAGE = """<!doctype html><html><head><style>
body{margin:0;font-family:sans-serif;background:#f3f3f3;color:#1b1b1b}
.side{position:fixed;left:0;top:0;bottom:0;width:260px;background:#e9e9e9;padding:24px}
.side div{padding:10px 12px;border-radius:4px;margin:4px 0}.side .on{background:#fff}
.main{margin-left:300px;padding:28px}h1{font-size:28px;font-weight:600}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:16px;margin:12px 0;display:flex;justify-content:space-between;width:760px}
.tg{width:40px;height:20px;border-radius:10px;background:#0067c0}
</style></head><body><div class="side">%s</div><div class="main"><h1>System</h1>%s</div></body></html>"""
_MENU = ["System", "Bluetooth &amp; devices", "Network &amp; internet", "Personalisation", "Apps", "Accounts", "Time &amp; language", "Gaming", "Accessibility", "Privacy &amp; security", "Update"]
_CARDS = [("Display", "Monitors, brightness, night light"), ("Sound", "Volume levels, output, input"), ("Notifications", "Alerts from apps and system"),
          ("Focus", "Reduce distractions"), ("Power &amp; battery", "Sleep, battery usage, battery saver"), ("Storage", "Storage space, drives, configuration rules"),
          ("Nearby sharing", "Discoverability, received files location"), ("Multitasking", "Snap windows, desktops, task switching")]  # fmt: skip


def chromium_screenshot(path: Path, width: int = 1280, height: int = 1440) -> Path | None:
    """A settings-like page rendered by headless chromium (None when chromium is not installed)."""
    if path.exists():
        return path
    if not Path(CHROMIUM).is_file():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    menu = "".join(f'<div class="{"on" if i == 0 else ""}">{m}</div>' for i, m in enumerate(_MENU))
    cards = "".join(f'<div class="card"><span>{t}<br><small>{d}</small></span><span class="tg"></span></div>' for t, d in _CARDS)
    html = path.with_suffix(".html")
    html.write_text(SETTINGS_PAGE % (menu, cards))
    profile = path.parent / f"{path.stem}-chromium-profile"
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync", f"--user-data-dir={profile}", "--hide-scrollbars", f"--window-size={width},{height}",
            f"--screenshot={path}", html.resolve().as_uri()]  # fmt: skip
    subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=120, check=False)  # judged by the file it writes
    shutil.rmtree(profile, ignore_errors=True)
    return path if path.exists() else None


def scroll_clip(path: Path, picture: Path, speed_px_s: int = 120, seconds: float = 3.0, crop: str = "1280:720") -> Path:
    """A tall picture scrolled upwards (the view moves down) at speed_px_s, scaled to the clip size."""
    return still_clip(path, picture, f"crop={crop}:0:'t*{speed_px_s}',scale={CLIP_W}:{CLIP_H},setsar=1", seconds)


def ui_mock_picture(path: Path) -> Path:
    """A font-free UI: flat panels, cards with borders and toggles, text-like bars, on flat colours."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    vf = ["drawbox=x=0:y=0:w=330:h=1440:color=0xe9e9e9:t=fill"]
    for k in range(11):  # menu entries: short dark bars
        vf.append(f"drawbox=x=36:y={40 + 44 * k}:w={90 + 17 * (k % 4)}:h=9:color=0x1b1b1b:t=fill")
    for k in range(8):  # cards
        y = 100 + 84 * k
        vf += [f"drawbox=x=360:y={y}:w=760:h=70:color=white:t=fill", f"drawbox=x=360:y={y}:w=760:h=70:color=0xdddddd:t=1",
               f"drawbox=x=380:y={y + 16}:w={120 + 23 * (k % 5)}:h=10:color=0x1b1b1b:t=fill",
               f"drawbox=x=380:y={y + 38}:w={200 + 31 * (k % 3)}:h=7:color=0x5a5a5a:t=fill",
               f"drawbox=x=1050:y={y + 25}:w=44:h=20:color=0x0067c0:t=fill"]  # fmt: skip
    ffmpeg("-f", "lavfi", "-i", "color=c=0xf3f3f3:s=1280x1440", "-vf", ",".join(vf), "-frames:v", "1", "-update", "1", str(path))
    return path


def blocks_clip(path: Path, seconds: float = 3.0) -> Path:
    """Game-like pixel art: random colour blocks (16 px) panning, with a HUD bar of hearts at the bottom."""
    path.parent.mkdir(parents=True, exist_ok=True)
    hud = ",".join(f"drawbox=x={132 + 24 * k}:y=230:w=20:h=14:color=red:t=fill" for k in range(5))
    ffmpeg("-f", "lavfi", "-i", "color=gray:s=57x32:r=16,noise=alls=100:allf=0:all_seed=3",
           "-vf", f"scale=912:512:flags=neighbor,crop={CLIP_W}:{CLIP_H}:x='t*30':y=100,drawbox=x=128:y=226:w=200:h=22:color=0x202020@0.8:t=fill,{hud}",
           "-t", f"{seconds}", *ENC, str(path))  # fmt: skip
    return path


def slideshow_clip(path: Path, pictures: list[Path], hold_s: float = 2.0, fade_s: float = 0.0) -> Path:
    """Still pictures shown hold_s each, joined by hard cuts (fade_s = 0) or cross-fades of fade_s."""
    path.parent.mkdir(parents=True, exist_ok=True)
    args: list[str] = []
    chains = []
    for k, pic in enumerate(pictures):
        args += ["-loop", "1", "-framerate", str(FPS), "-t", f"{hold_s}", "-i", str(pic)]
        chains.append(f"[{k}:v]scale={CLIP_W}:{CLIP_H},setsar=1,format=yuv420p[p{k}]")
    if fade_s <= 0:
        graph = ";".join(chains) + ";" + "".join(f"[p{k}]" for k in range(len(pictures))) + f"concat=n={len(pictures)}:v=1[v]"
    else:
        steps, last = [], "p0"
        for k in range(1, len(pictures)):
            out = "v" if k == len(pictures) - 1 else f"x{k}"
            steps.append(f"[{last}][p{k}]xfade=transition=fade:duration={fade_s}:offset={k * (hold_s - fade_s):.3f}[{out}]")
            last = out
        graph = ";".join(chains + steps)
    ffmpeg(*args, "-filter_complex", graph, "-map", "[v]", *ENC, str(path))
    return path
