"""Next-series recommender: interactions, models, evaluation, serving bundle (no Dagster/HTTP)."""
