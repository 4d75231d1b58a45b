"""Reading stored runs: run-versus-run comparison and its paired statistics, failure listings, trends, pairwise run comparison."""
