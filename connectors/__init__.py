"""Connectors: agency exports become case events (framework, kinds, presets)."""
