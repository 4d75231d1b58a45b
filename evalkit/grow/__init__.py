"""Growing the suite: LLM-generated edge cases, mining production failures, review, near-duplicates, PII scrubbing, log files and the weekly job."""
