"""Caption stage: sidecar captions first, else a captioner (a video VLM or an image-to-text model),
then language, vocabulary tags and text embeddings.

Public entry point: `run_caption(params, progress=True)` writes `paths.captions_table`
(schema `curation.schemas.CAPTIONS`), `paths.text_embeddings` (float32 [N, D], unit rows,
row i = the clip whose `embedding_row` is i) and `<metrics_dir>/caption.json`.

Modules: `sidecars` (+ `subtitles`) find and parse sidecar files, `language` resolves the
caption language, `vocabulary` tags video-domain terms, `frames` samples frames with decord,
`captioner` is the captioner factory (`load_captioner`) and the image captioner, `vlm` the
video VLM captioner, `tiny` builds tiny random-init VLMs for tests, `cleanup` turns model output
into a caption, `text_encoder` embeds captions, `stage` is the per-clip Stage, `run` drives it.
Both captioners take a batch: `load_captioner(p).caption_clips(frames_per_clip, timings)`.
"""

from curation.caption.run import CaptionSummary, run_caption

__all__ = ["CaptionSummary", "run_caption"]
