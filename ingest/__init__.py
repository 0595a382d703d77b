"""Ingestion: the catalog and event files into the pipeline's working database."""
