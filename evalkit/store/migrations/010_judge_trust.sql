-- Version 8: judge calibrations say what their figures are and whether the judge may be trusted.
-- `accuracy` is what the trust verdict rests on: for a pairwise judge shown both orders, the mean of
-- the two orders' accuracies (the figure LLMBar and MT-Bench report); otherwise the share of items
-- judged right, errors counted wrong. `both_orders_right` and `position_agreement` are measured for
-- both-order judges only. `trust` is `evalkit calibrate`'s verdict: trusted | usable | refused.
-- Calibrations are looked up per (judge model, rubric hash, dataset): one judge calibrated on five
-- subsets keeps five current calibrations.

ALTER TABLE judge_calibrations ADD COLUMN accuracy DOUBLE PRECISION;
ALTER TABLE judge_calibrations ADD COLUMN both_orders_right DOUBLE PRECISION;
ALTER TABLE judge_calibrations ADD COLUMN position_agreement DOUBLE PRECISION;
ALTER TABLE judge_calibrations ADD COLUMN trust TEXT
