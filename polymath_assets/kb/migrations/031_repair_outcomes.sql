-- The repair lane (030), continued.
--
-- kind 'failed' is a passage extraction gave up on: dead, or failed with no attempts left.
-- A failed request with attempts left is extraction's to retry and never a repair's, so a
-- passage is never in two jobs at once (030's comment on the kind says less than that).
--
-- A failed passage's repair answers in place of extraction's last answer: the JSON parse
-- gate (kb/quality.py) counts the repair's outcome instead of the one it replaced, in the
-- group of the job that gave it. Recorded when the repair is first registered:
--   replaced_job_id  the extraction job whose answer the repair replaces
--   replaced_error   that answer's error (e.g. 'parse_error: ...')
-- concepts_repaired / concepts_dropped (030) are written when a repair is settled: the rows
-- its answer loaded for the passage, and the unlocated items listed that did not come back
-- located (they are dropped).
ALTER TABLE repair_requests ADD COLUMN IF NOT EXISTS replaced_job_id bigint;
ALTER TABLE repair_requests ADD COLUMN IF NOT EXISTS replaced_error text;
