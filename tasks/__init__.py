"""Thin Prefect tasks: read Parquet -> call a component -> write Parquet -> return the path."""
