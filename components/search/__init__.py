"""Search team: synthetic click logs and a pointwise click model for ranking."""
