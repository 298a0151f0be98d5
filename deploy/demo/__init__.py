"""Demo County 演示县: a seeded generator of fictional source-system exports for the hub.

See ``deploy/demo/README.md`` for the formats and the catalogue of planted gaps.
"""
