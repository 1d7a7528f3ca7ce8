"""Execution environments: specs, Dockerfile templates, image builds, Docker and local backends."""
