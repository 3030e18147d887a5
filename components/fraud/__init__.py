"""Fraud team: synthetic card transactions and a gradient-boosted fraud classifier."""
