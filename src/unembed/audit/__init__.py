"""Leakage audit: what inverting a store's vectors recovers under each defense, and what the
defense costs search."""
from .defenses import Defense, parse_defense, parse_defenses
from .retrieval import fragment_queries, recall_at_k
from .run import audit

__all__ = ["audit", "Defense", "parse_defense", "parse_defenses", "fragment_queries", "recall_at_k"]
