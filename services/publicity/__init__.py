"""publicity."""
