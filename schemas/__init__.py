"""Pydantic models for every record that crosses a topic."""
