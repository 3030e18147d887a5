"""One module per `mlplat` subcommand; each exposes ``register(subparsers)``."""
