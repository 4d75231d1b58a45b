-- Version 7: the slot class of each json_fields field result, as counted by the WDC-PAVE paper
-- (Baumann, Brinkmann, Bizer, ADBIS 2024): NN (target absent, prediction absent), NV (target
-- absent, prediction has a value), VN (target has a value, prediction absent), VC (correct value),
-- VW (wrong value). NULL on rows written before version 7; readers derive it from `status` then.

ALTER TABLE field_scores ADD COLUMN slot TEXT;
