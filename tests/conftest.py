"""Shared fixtures: generated data sets are built once per session and shared read-only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from synthetic import GenerateSpec, generate

# implicit and numpy: one BLAS thread, as in production (implicit warns otherwise)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def medium_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 users × 14 days, clean, Parquet: big enough for behavioural statistics."""
    out = tmp_path_factory.mktemp("gen") / "medium"
    generate(GenerateSpec(users=3000, days=14, seed=5, out=out, fmt="parquet"))
    return out


@pytest.fixture(scope="session")
def dirty_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "dirty"
    generate(GenerateSpec(users=300, days=6, seed=21, out=out, gzip=True, dirty=0.05))
    return out


@pytest.fixture(scope="session")
def dirty_segment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "segment"
    generate(GenerateSpec(users=300, days=5, seed=22, out=out, fmt="segment", dirty=0.05))
    return out


@pytest.fixture(scope="session")
def dirty_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "dirty_parquet"
    generate(GenerateSpec(users=300, days=5, seed=23, out=out, fmt="parquet", dirty=0.05))
    return out


# the same kinds of data sets generated in many small chunks of users (the streamed path):
# tests parametrized over both check that chunking keeps every statistic and invariant
STREAM_CHUNK_USERS = 37


@pytest.fixture(scope="session")
def medium_parquet_chunked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``medium_parquet``'s arguments, generated 250 users at a time (12 chunks)."""
    out = tmp_path_factory.mktemp("gen") / "medium_chunked"
    generate(GenerateSpec(users=3000, days=14, seed=5, out=out, fmt="parquet"), chunk_users=250)
    return out


@pytest.fixture(scope="session")
def dirty_jsonl_chunked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "dirty_chunked"
    spec = GenerateSpec(users=300, days=6, seed=21, out=out, gzip=True, dirty=0.05)
    generate(spec, chunk_users=STREAM_CHUNK_USERS)
    return out


@pytest.fixture(scope="session")
def dirty_segment_chunked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "segment_chunked"
    spec = GenerateSpec(users=300, days=5, seed=22, out=out, fmt="segment", dirty=0.05)
    generate(spec, chunk_users=STREAM_CHUNK_USERS)
    return out


@pytest.fixture(scope="session")
def dirty_parquet_chunked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "dirty_parquet_chunked"
    spec = GenerateSpec(users=300, days=5, seed=23, out=out, fmt="parquet", dirty=0.05)
    generate(spec, chunk_users=STREAM_CHUNK_USERS)
    return out
