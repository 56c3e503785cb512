"""Helpers shared by the tests: see tests/README.md."""
