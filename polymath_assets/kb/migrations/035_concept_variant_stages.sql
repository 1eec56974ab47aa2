-- Each variant rule of the normalization key, and the generic-head rule, is its own stage
-- in concept_aliases.stage, so a wrong merge can be traced to the rule that made it (and
-- undone with a split): key (case, unicode, accents), punctuation (hyphens, spaces,
-- tokenized punctuation), article, bracket (a trailing bracketed acronym), spelling
-- (British / American), plural, head (NAME HEAD under NAME).
ALTER TABLE concept_aliases DROP CONSTRAINT IF EXISTS concept_aliases_stage_check;
ALTER TABLE concept_aliases ADD CONSTRAINT concept_aliases_stage_check CHECK (stage IN (
    'new', 'key', 'punctuation', 'article', 'bracket', 'spelling', 'plural', 'acronym', 'head', 'embedding',
    'manual'));
