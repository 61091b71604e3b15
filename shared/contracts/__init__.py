"""The published language: one module per publishing service."""
