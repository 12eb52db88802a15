"""DuckDB storage: connection, migrations, and every SQL string of the studio."""
