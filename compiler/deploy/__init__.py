"""Deploy targets: the embedded local platform and cloud environments."""
