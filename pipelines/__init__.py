"""Dagster assets, checks, sensors and resources: the only code that writes the warehouse."""
