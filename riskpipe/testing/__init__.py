"""Helpers for tests and local integration runs (real services, no mocks)."""
