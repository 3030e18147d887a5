"""mlplat compiler: load, validate and link specs into the IR, run the backends, drive the CLI."""
