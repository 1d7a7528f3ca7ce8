"""Ray orchestration of the factory's stages; the one DuckDB writer."""
