-- The nomination service's read models (updated in the same transaction as each append).
CREATE TABLE IF NOT EXISTS units (
    unit_code   text PRIMARY KEY,
    name        text NOT NULL
);

CREATE TABLE IF NOT EXISTS employees (
    employee_no text    PRIMARY KEY,
    name        text    NOT NULL,
    unit_code   text    NOT NULL,
    position    text    NOT NULL,
    active      boolean NOT NULL
);
CREATE INDEX IF NOT EXISTS employees_unit_idx ON employees (unit_code);

CREATE TABLE IF NOT EXISTS rounds (
    round_id        text        PRIMARY KEY,
    cadence         text        NOT NULL,
    deadline        timestamptz NOT NULL,
    unit_deadlines  jsonb       NOT NULL DEFAULT '{}',
    status          text        NOT NULL,  -- open | closed
    opened_at       timestamptz NOT NULL,
    closed_at       timestamptz,
    closed_how      text
);
-- Units the office let in again after the close: unit code -> their own deadline, while open.
ALTER TABLE rounds ADD COLUMN IF NOT EXISTS reopened jsonb NOT NULL DEFAULT '{}';

CREATE TABLE IF NOT EXISTS nominations (
    nomination_id   uuid        PRIMARY KEY,
    round_id        text        NOT NULL,
    category        text        NOT NULL,
    employee_no     text        NOT NULL,
    name            text        NOT NULL,
    unit_code       text        NOT NULL,
    unit_name       text        NOT NULL,
    position        text        NOT NULL,
    deeds           text        NOT NULL,
    results         jsonb       NOT NULL,
    evidence_links  jsonb       NOT NULL,
    recommendation  text        NOT NULL,
    status          text        NOT NULL,  -- submitted | withdrawn | closed
    submitted_by    text        NOT NULL,
    submitted_at    timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    withdraw_reason text
);
-- The nominee's consent to public display ({"uses": [...]}); NULL: not recorded (= none).
ALTER TABLE nominations ADD COLUMN IF NOT EXISTS consent jsonb;
CREATE INDEX IF NOT EXISTS nominations_round_idx ON nominations (round_id, unit_code, category);

-- Past winners (from review's ResultPublished), for the optional cooldown rule.
CREATE TABLE IF NOT EXISTS past_wins (
    employee_no text NOT NULL,
    category    text NOT NULL,
    round_id    text NOT NULL,
    revoked     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (employee_no, category, round_id)
);
-- When the win was revoked (its payroll reversal: the legal hold of decide_erasure); NULL in
-- rows projected before the column (a rebuild fills it; until then the hold counts from now).
ALTER TABLE past_wins ADD COLUMN IF NOT EXISTS revoked_at timestamptz;

-- Nominations the office rejected in its audit (from review): they free their quota place.
CREATE TABLE IF NOT EXISTS rejections (
    nomination_id uuid PRIMARY KEY,
    round_id      text NOT NULL
);

-- Rounds whose audit the office has begun (its first acceptance or rejection, from review):
-- from then on no unit is let in again.
CREATE TABLE IF NOT EXISTS audits_started (
    round_id   text PRIMARY KEY
);

-- Rounds whose result the review published: consent to publicity no longer changes; and
-- when (the start of the retention time of the nominations that did not win,
-- services/nomination/retention.py; NULL in rows projected before the column: a rebuild
-- fills it, and until then the retention job keeps those rounds' nominees).
CREATE TABLE IF NOT EXISTS results_published (
    round_id   text PRIMARY KEY
);
ALTER TABLE results_published ADD COLUMN IF NOT EXISTS published_at timestamptz;

-- Objections raised in review (ObjectionRaised, ObjectionResolved, from review): whose they
-- are (the raiser's data subject as review sealed it: an employee number, or user:<id>) and
-- when each was resolved (NULL: still open), for the retention job (1 year after its
-- resolution, services/nomination/retention.py). Objections raised before this table was fed
-- are learnt by rebuilding the projection (`flowers audit rebuild nomination`).
CREATE TABLE IF NOT EXISTS objections_held (
    round_id       text        NOT NULL,
    objection_no   integer     NOT NULL,
    raiser_subject text        NOT NULL,
    resolved_at    timestamptz,
    PRIMARY KEY (round_id, objection_no)
);
