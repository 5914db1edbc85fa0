"""Deterministic sample data: a dirty landing zone for every source, and large orders CSVs for benchmarks."""

from .generator import GeneratedFile, generate, write_orders_csv

__all__ = ["GeneratedFile", "generate", "write_orders_csv"]
