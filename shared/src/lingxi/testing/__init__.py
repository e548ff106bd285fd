"""Test helpers: the pytest plugin with a real Redis, and service process helpers."""
