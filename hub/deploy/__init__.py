"""Deployment past one machine: manifests rendered from the unit registry and topic manifest."""
