"""Scorers: one module per family, all behind one registry (:func:`evalkit.scorers.base.scorer`)."""

from evalkit.scorers.base import FieldScore, Score, ScoreContext, ScoreFn, build_scorer, scorer, scorers

__all__ = ["FieldScore", "Score", "ScoreContext", "ScoreFn", "build_scorer", "scorer", "scorers"]
