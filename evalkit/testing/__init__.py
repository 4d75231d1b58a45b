"""Helpers for testing with evalkit: a loopback OpenAI-compatible server (and, later, assertions)."""
