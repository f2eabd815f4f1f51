"""Sync: runs connectors page by page into the store, with checkpoints, sweeps and identity correlation."""
