"""Helpers for testing with evalkit.

- :func:`assert_case` / :func:`assert_case_async`: eval tests written by hand (see
  :mod:`evalkit.testing.assertions`).
- :mod:`evalkit.testing.openai_server`: a loopback OpenAI-compatible server for tests and benchmarks
  (import it from there; it is kept out of this package's import path, which stays light);
  :mod:`evalkit.testing.vendor_servers`: the same for Anthropic's Messages API and Gemini.
- ``pytest --evalkit SUITE`` is the pytest plugin in :mod:`evalkit.pytest_plugin`.
"""

from __future__ import annotations

from evalkit.testing.assertions import CaseFailure, assert_case, assert_case_async, failure_text

__all__ = ["CaseFailure", "assert_case", "assert_case_async", "failure_text"]
