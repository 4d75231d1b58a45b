"""Reports: JUnit XML for CI, markdown summaries for pull requests, and self-contained HTML."""
