"""Versioned cross-service contracts: topic names and pydantic message models, defined once."""
