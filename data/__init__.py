"""The DuckDB store of the factory: schema, migrations, writes, queries and corpus statistics.

``data.store`` is the only module of the project that imports duckdb; everything else hands it
records and gets records back.
"""
