-- Grain: one row: what the experiments' comparison of this build used (decision 0060), for its readers
-- (the analytics API answers an experiment without events with these too).
{{ experiment_settings() }}
