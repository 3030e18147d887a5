"""Recommendations team: offline evaluation of the ranking model."""
