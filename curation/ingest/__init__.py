"""Ingest: discover raw videos, probe/validate (reject with a reason), detect hard cuts,
cut and normalize clips in one decode pass, write clips.parquet / rejects.parquet.

Library entry point: `run_ingest(params, progress=True) -> IngestSummary`.
"""

from curation.ingest.run import IngestSummary, run_ingest

__all__ = ["IngestSummary", "run_ingest"]
