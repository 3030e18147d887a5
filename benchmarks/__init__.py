"""Benchmarks and the synthetic organisation generator (scripts, not tests)."""
