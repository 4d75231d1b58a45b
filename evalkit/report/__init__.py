"""Reports: JUnit XML for CI (and, later, markdown summaries and self-contained HTML)."""
