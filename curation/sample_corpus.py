"""The embedded sample corpus: a deterministic folder of videos made with ffmpeg's lavfi sources.

It spans the difficulty range the curriculum needs: near-static scenes, a slow
pan, moderate motion, fast chaotic motion and a video with hard cuts.  Every
video but one has a caption sidecar that describes it truthfully, in mixed
formats and languages (.txt English, .json Spanish/French, .srt French, .vtt
German); one has none, so the captioner path runs.  Two bad inputs (an
audio-only .mp4 and an .mp4 of random bytes) make the ingest rejects visible.
`corpus.json` lists every file with its kind and expected difficulty.

The same arguments give byte-identical files: fixed seeds, one x264 thread,
`+bitexact` flags and no metadata.

CLI: `curation sample-corpus OUT --minutes 1.5 --seed 0`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from curation.config import CorpusParams
from curation.io.atomic import atomic_dir

GENERATOR = "curation.sample_corpus"
VERSION = 1
MANIFEST = "corpus.json"
ROUND_MINUTES = 1.5  # one round of every recipe per 1.5 minutes of corpus

# (hex, en, es, fr, de)
_COLOURS = [
    ("0x2a4d9c", "blue", "azul", "bleu", "blauer"),
    ("0x2e8b57", "green", "verde", "vert", "grüner"),
    ("0x8b2e5a", "purple", "morado", "violet", "violetter"),
    ("0x9c6b2a", "brown", "marrón", "marron", "brauner"),
]
_BOX = [("0xd03030", "red", "rojo", "rouge", "roten"), ("0xf0d020", "yellow", "amarillo", "jaune", "gelben")]
_RULES = [30, 110, 90, 150]


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: dict[str, str]  # language -> text


@dataclass
class Item:
    stem: str
    kind: str
    difficulty: int  # expected, 1 = easiest .. 5 = hardest
    graph: str  # lavfi graph (last output is the video)
    frames: int
    fps: int
    captions: dict[str, str]  # en/es/fr/de
    cues: list[Cue] = field(default_factory=list)  # per-scene captions (hard cuts)
    sidecar: str | None = None  # "txt" | "json-es" | "json-fr" | "srt" | "vtt" | None

    @property
    def seconds(self) -> float:
        return self.frames / self.fps


def _caps(en: str, es: str, fr: str, de: str) -> dict[str, str]:
    return {"en": en, "es": es, "fr": fr, "de": de}


def _recipes(r: int, seed: int, w: int, h: int, fps: int, frames: int) -> list[Item]:
    """One round of recipes; round `r` varies colours, seeds and rules."""
    s = seed * 1000 + r
    bg = _COLOURS[(seed + r) % len(_COLOURS)]
    box = _BOX[(seed + r) % len(_BOX)]
    rule = _RULES[(seed + r) % len(_RULES)]
    fmt = "format=yuv420p,setsar=1"
    freeze = "trim=end_frame=1,loop=loop=-1:size=1:start=0,setpts=N/FRAME_RATE/TB"
    pan_speed = max(1.0, w / (frames / fps))  # a still image twice as wide, panned once across
    items = [
        Item(
            "static_color", "static", 1,
            f"color=c={bg[0]}:s={w}x{h}:r={fps},drawbox=x=iw/3:y=ih/3:w=iw/3:h=ih/3:color={box[0]}:t=fill,{fmt}",
            frames, fps,
            _caps(
                f"A still {bg[1]} screen with a {box[1]} rectangle in the middle; nothing moves.",
                f"Una pantalla {bg[2]} fija con un rectángulo {box[2]} en el centro; nada se mueve.",
                f"Un écran {bg[3]} immobile avec un rectangle {box[3]} au centre ; rien ne bouge.",
                f"Ein stehender {bg[4]} Bildschirm mit einem {box[4]} Rechteck in der Mitte; nichts bewegt sich.",
            ),
        ),
        Item(
            "still_pattern", "static", 1,
            f"testsrc=s={w}x{h}:r={fps},{freeze},{fmt}",
            frames, fps,
            _caps(
                "A frozen colour test pattern with vertical colour bars and a gradient; the image never changes.",
                "Una carta de ajuste de colores congelada, con barras verticales y un degradado; la imagen no cambia.",
                "Une mire de couleurs figée, avec des barres verticales et un dégradé ; l'image ne change jamais.",
                "Ein eingefrorenes Farbtestbild mit senkrechten Farbbalken und einem Verlauf; das Bild ändert sich nie.",
            ),
        ),
        Item(
            "slow_pan", "pan", 2,
            f"mandelbrot=s={2 * w}x{h}:r={fps}:maxiter=256:start_scale={3.0 + 0.2 * r},{freeze},"
            f"crop=w={w}:h={h}:x='min(t*{pan_speed:.3f}\\,iw-ow)':y=0,{fmt}",
            frames, fps,
            _caps(
                "A slow, steady camera pan from left to right across a still image of a colourful fractal.",
                "Un paneo lento y constante de izquierda a derecha sobre una imagen fija de un fractal colorido.",
                "Un panoramique lent et régulier de gauche à droite sur l'image fixe d'une fractale colorée.",
                "Ein langsamer, gleichmäßiger Schwenk von links nach rechts über das Standbild eines bunten Fraktals.",
            ),
        ),
        Item(
            "moving_pattern", "moderate", 3,
            f"testsrc2=s={w}x{h}:r={fps},{fmt}",
            frames, fps,
            _caps(
                "A colourful test pattern with moving shapes and a running frame counter.",
                "Una carta de ajuste colorida con formas que se mueven y un contador de fotogramas.",
                "Une mire colorée avec des formes qui bougent et un compteur d'images.",
                "Ein buntes Testbild mit sich bewegenden Formen und einem laufenden Bildzähler.",
            ),
        ),
        Item(
            "portrait_pattern", "moderate", 3,
            f"testsrc2=s={h - h % 2}x{w}:r={fps},{fmt}",
            frames, fps,
            _caps(
                "A tall portrait-format test pattern with moving shapes and a frame counter.",
                "Una carta de ajuste en formato vertical con formas que se mueven y un contador de fotogramas.",
                "Une mire au format portrait avec des formes qui bougent et un compteur d'images.",
                "Ein Testbild im Hochformat mit sich bewegenden Formen und einem Bildzähler.",
            ),
        ),
        Item(
            "fractal_zoom", "chaotic", 4,
            # the mandelbrot source is slow when it zooms deep: zoom fast into one rendered still instead
            f"mandelbrot=s={2 * w}x{2 * h}:r={fps}:maxiter=256:start_scale={2.5 + 0.2 * r},{freeze},"
            f"zoompan=z='pow(1.3\\,on/{fps})':d=1:x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':s={w}x{h}:fps={fps},{fmt}",
            frames, fps,
            _caps(
                "A fast zoom into a still image of a colourful Mandelbrot fractal.",
                "Un zoom rápido hacia la imagen fija de un fractal de Mandelbrot colorido.",
                "Un zoom rapide dans l'image fixe d'une fractale de Mandelbrot colorée.",
                "Ein schneller Zoom in das Standbild eines bunten Mandelbrot-Fraktals.",
            ),
        ),
        Item(
            "game_of_life", "chaotic", 5,
            f"life=s={max(16, w // 4)}x{max(16, h // 4)}:r={fps}:ratio=0.3:seed={s}:"
            f"life_color=#40ff80:death_color=#101040,scale={w}:{h}:flags=neighbor,{fmt}",
            frames, fps,
            _caps(
                "Conway's Game of Life: bright green cells on a dark blue background are born and die chaotically every frame.",
                "El juego de la vida de Conway: células verdes brillantes sobre fondo azul oscuro nacen y mueren caóticamente en cada fotograma.",
                "Le jeu de la vie de Conway : des cellules vert vif sur fond bleu foncé naissent et meurent de façon chaotique à chaque image.",
                "Conways Spiel des Lebens: hellgrüne Zellen auf dunkelblauem Grund entstehen und sterben in jedem Bild chaotisch.",
            ),
        ),
        Item(
            "cellular_automaton", "chaotic", 4,
            f"cellauto=s={max(16, w // 4)}x{max(16, h // 4)}:r={fps}:rule={rule}:seed={s},scale={w}:{h}:flags=neighbor,{fmt}",
            frames, fps,
            _caps(
                f"A black-and-white cellular automaton pattern (rule {rule}) that keeps scrolling upwards.",
                f"Un patrón de autómata celular en blanco y negro (regla {rule}) que se desplaza rápido hacia arriba.",
                f"Un motif d'automate cellulaire noir et blanc (règle {rule}) qui défile vite vers le haut.",
                f"Ein schwarz-weißes Muster eines zellulären Automaten (Regel {rule}), das schnell nach oben scrollt.",
            ),
        ),
        Item(
            "static_noise", "chaotic", 5,
            f"color=c=gray:s={w}x{h}:r={fps},noise=alls=90:allf=t+u:all_seed={s},{fmt}",
            frames, fps,
            _caps(
                "Flickering static noise, fine coloured speckles on grey like an untuned television; every frame is different.",
                "Ruido estático que parpadea, motas de colores sobre gris como un televisor sin sintonizar; cada fotograma es distinto.",
                "De la neige qui scintille, de fins points colorés sur du gris comme une télévision mal réglée ; chaque image est différente.",
                "Flackerndes Bildrauschen, feine bunte Punkte auf Grau wie bei einem nicht eingestellten Fernseher; jedes Bild ist anders.",
            ),
        ),
    ]
    # hard cuts: four different scenes concatenated
    n = max(1, frames // 4)
    sc = [
        (f"testsrc2=s={w}x{h}:r={fps}", _caps("a moving colour test pattern", "una carta de ajuste en movimiento", "une mire de couleurs animée", "ein bewegtes Farbtestbild")),
        (f"color=c={_COLOURS[(seed + r + 1) % 4][0]}:s={w}x{h}:r={fps}", _caps(f"a plain {_COLOURS[(seed + r + 1) % 4][1]} screen", f"una pantalla {_COLOURS[(seed + r + 1) % 4][2]} lisa", f"un écran {_COLOURS[(seed + r + 1) % 4][3]} uni", f"ein einfarbig {_COLOURS[(seed + r + 1) % 4][4]} Bildschirm")),
        (f"mandelbrot=s={w}x{h}:r={fps}:maxiter=256", _caps("a slow zoom into a colourful fractal", "un zoom lento hacia un fractal colorido", "un zoom lent dans une fractale colorée", "ein langsamer Zoom in ein buntes Fraktal")),
        (f"cellauto=s={max(16, w // 4)}x{max(16, h // 4)}:r={fps}:rule={rule}:seed={s + 7},scale={w}:{h}:flags=neighbor", _caps("a black-and-white cellular pattern", "un patrón celular en blanco y negro", "un motif cellulaire noir et blanc", "ein schwarz-weißes Zellmuster")),
    ]
    chains = [f"{src},trim=end_frame={n},setpts=PTS-STARTPTS,{fmt}[s{i}]" for i, (src, _) in enumerate(sc)]
    graph = ";".join(chains) + ";" + "".join(f"[s{i}]" for i in range(4)) + "concat=n=4:v=1:a=0[out0]"
    cues = [Cue(i * n / fps, (i + 1) * n / fps, c) for i, (_, c) in enumerate(sc)]
    sep = {"en": "; then ", "es": "; luego ", "fr": " ; puis ", "de": "; dann "}
    head = _caps("Four scenes separated by hard cuts: ", "Cuatro escenas separadas por cortes: ", "Quatre scènes séparées par des coupes franches : ", "Vier Szenen mit harten Schnitten: ")
    items.append(Item("hard_cuts", "cuts", 3, graph, 4 * n, fps, {k: head[k] + sep[k].join(c.text[k] for c in cues) + "." for k in head}, cues))
    return items


_SIDECARS = ["txt", "json-es", "vtt", None, "json-fr", "txt", "vtt", "json-es", "txt", "srt"]


def plan_corpus(p: CorpusParams) -> list[Item]:
    """The videos of the corpus (deterministic in the params): rounds of every recipe."""
    rounds = max(1, math.ceil(p.minutes / ROUND_MINUTES - 1e-9))
    per_round = len(_SIDECARS)
    frames = max(8, round(p.minutes * 60 / (rounds * per_round) * p.fps))
    w, h = p.width - p.width % 2, p.height - p.height % 2
    out: list[Item] = []
    for r in range(rounds):
        items = _recipes(r, p.seed, w, h, p.fps, frames)
        assert len(items) == per_round
        for i, it in enumerate(items):
            # the captioner-path video (no sidecar) is the same recipe in every round; other formats rotate
            it.sidecar = _SIDECARS[i] if _SIDECARS[i] is None or r == 0 else [x for x in _SIDECARS if x][(i + r) % (per_round - 1)]
            if it.kind == "cuts" and it.sidecar in ("txt", "json-es", "json-fr"):
                it.sidecar = "srt"  # per-scene cues keep the scene captions aligned with the cuts
            it.stem = f"{r * per_round + i + 1:02d}_{it.stem}"
            out.append(it)
    return out


def _ts(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


def sidecar_text(it: Item) -> tuple[str, str, str] | None:
    """(extension, language, file text) of an item's caption sidecar."""
    if it.sidecar is None:
        return None
    cues = it.cues or [Cue(0.0, it.seconds, it.captions)]
    if it.sidecar == "txt":
        return ".txt", "en", it.captions["en"] + "\n"
    if it.sidecar.startswith("json"):
        lang = it.sidecar.split("-")[1]
        return ".json", lang, json.dumps({"caption": it.captions[lang], "language": lang}, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if it.sidecar == "srt":
        blocks = [f"{i + 1}\n{_ts(c.start, ',')} --> {_ts(c.end, ',')}\n{c.text['fr']}\n" for i, c in enumerate(cues)]
        return ".srt", "fr", "\n".join(blocks)
    if it.sidecar == "vtt":
        blocks = [f"{_ts(c.start, '.')} --> {_ts(c.end, '.')}\n{c.text['de']}\n" for c in cues]
        return ".vtt", "de", "WEBVTT\n\n" + "\n".join(blocks)
    raise ValueError(it.sidecar)


_BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1", "-map_chapters", "-1"]


def _ffmpeg(args: list[str]) -> None:
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y", *args]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({proc.returncode}): {proc.stderr.decode('utf-8', 'replace')[-800:]}")


def _encode(it: Item, dest: Path) -> None:
    _ffmpeg(
        ["-f", "lavfi", "-i", it.graph, "-frames:v", str(it.frames), "-an",
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", str(2 * it.fps), "-pix_fmt", "yuv420p", "-threads", "1",
         *_BITEXACT, "-movflags", "+faststart", "-f", "mp4", "file:" + str(dest.resolve())]
    )  # fmt: skip


def _is_generated(out: Path) -> bool:
    try:
        return json.loads((out / MANIFEST).read_text(encoding="utf-8")).get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        return False


def generate_corpus(out: str | Path, params: CorpusParams | None = None, workers: int | None = None, progress: bool = True) -> dict:
    """Write the sample corpus to `out` (replaced atomically); returns the manifest.

    Refuses to replace a non-empty folder that this generator did not write, so
    it never deletes someone's footage.
    """
    from tqdm.auto import tqdm

    p = params or CorpusParams()
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not _is_generated(out))):
        raise FileExistsError(f"{out} exists and was not made by the sample corpus generator (no {MANIFEST}); refusing to replace it")
    items = plan_corpus(p)
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    manifest: dict = {
        "generator": GENERATOR,
        "version": VERSION,
        "params": p.model_dump(mode="json"),
        "videos": [],
        "bad_inputs": [
            {"file": "bad_audio_only.mp4", "expected_reject": "no_video_stream", "what": "AAC sine tone, no video stream"},
            {"file": "bad_random_bytes.mp4", "expected_reject": "not_media", "what": "64 KiB of seeded random bytes with an .mp4 name"},
        ],
    }
    with atomic_dir(out) as tmp:
        with ThreadPoolExecutor(workers) as pool:
            jobs = [pool.submit(_encode, it, tmp / f"{it.stem}.mp4") for it in items]
            for job in tqdm(jobs, desc="sample corpus", unit="video", disable=not progress):
                job.result()
        for it in items:
            side = sidecar_text(it)
            if side is not None:
                (tmp / f"{it.stem}{side[0]}").write_text(side[2], encoding="utf-8")
            manifest["videos"].append(
                {
                    "file": f"{it.stem}.mp4",
                    "kind": it.kind,
                    "expected_difficulty": it.difficulty,
                    "frames": it.frames,
                    "fps": it.fps,
                    "seconds": round(it.seconds, 3),
                    "hard_cuts_at_s": [round(c.start, 3) for c in it.cues[1:]],
                    "sidecar": None if side is None else f"{it.stem}{side[0]}",
                    "sidecar_language": None if side is None else side[1],
                    "caption_en": it.captions["en"],
                }
            )
        _ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050", "-t", "3", "-vn", "-c:a", "aac", "-b:a", "64k", *_BITEXACT, "-f", "mp4", "file:" + str((tmp / "bad_audio_only.mp4").resolve())])
        (tmp / "bad_random_bytes.mp4").write_bytes(np.random.default_rng(p.seed).bytes(65536))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
        os.chmod(tmp, 0o755)
    return manifest


# ------------------------------------------------------------------ CLI (`curation sample-corpus`)
def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = CorpusParams()
    parser.add_argument("out", help="folder to write (replaced; refuses a folder it did not make)")
    parser.add_argument("--minutes", type=float, default=d.minutes, help=f"total video length; more minutes = more and longer videos (default {d.minutes})")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"seed of colours, automata and noise (default {d.seed})")
    parser.add_argument("--width", type=int, default=d.width, help=f"landscape frame width (default {d.width})")
    parser.add_argument("--height", type=int, default=d.height, help=f"frame height (default {d.height})")
    parser.add_argument("--fps", type=int, default=d.fps, help=f"frame rate (default {d.fps})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    p = CorpusParams(minutes=args.minutes, seed=args.seed, width=args.width, height=args.height, fps=args.fps)
    m = generate_corpus(args.out, p, progress=not args.no_progress)
    secs = sum(v["seconds"] for v in m["videos"])
    print(f"sample corpus: {len(m['videos'])} videos ({secs:.1f} s) + {len(m['bad_inputs'])} bad inputs in {args.out}")
    return 0
