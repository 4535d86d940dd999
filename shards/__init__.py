"""WebDataset shards per curriculum tier: writer + manifest + verify, and the streaming curriculum loader.

Entry points:
    shards.run_shard(params)                     the shard stage (shards.stage)
    shards.verify.verify_manifest(dir)           integrity check of a written set
    shards.loader.make_phase_loader(...)         streaming curriculum loader for the trainer (imports torch)
"""

from shards.stage import run_shard, write_shard_set

__all__ = ["run_shard", "write_shard_set"]
