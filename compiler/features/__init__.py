"""The feature store backend: the compiled Feast repository, the training-frame step and the
worker that drives Feast's SDK in its own virtualenv."""
