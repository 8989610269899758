"""Sources: fetch and parse release data into model objects."""
