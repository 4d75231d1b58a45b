"""The one place verdicts are decided: the suite gate, regression against a baseline, the pairwise gate, judge-calibration checks and matrix cells. Nothing here prints."""
