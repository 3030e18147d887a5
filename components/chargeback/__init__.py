"""Chargeback team: card features from a feature store and a chargeback-risk classifier."""
