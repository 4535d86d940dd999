"""Video curation: ingest, caption, score and tier raw footage into curriculum-ordered training data."""

__version__ = "0.1.0"
