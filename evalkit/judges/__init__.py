"""LLM judges: the graded judge core, pairwise judging and its statistics, calibration against human labels, agreement and reliability."""
