"""Deployment assets: local stack helpers, demo data generator (not part of the wheel)."""
