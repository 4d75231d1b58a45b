"""Running a suite: the runner and its batch writer, the Ray executor, sharding, cost estimates, rescoring, merging shards and the prompts x models matrix."""
