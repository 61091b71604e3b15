-- Review's read models of other services' events (fed by its consumers, inbox-guarded).
CREATE TABLE IF NOT EXISTS candidates (
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
    submitted_by    text        NOT NULL,
    submitted_at    timestamptz NOT NULL,
    status          text        NOT NULL,  -- submitted | withdrawn | closed
    updated_at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS candidates_round_idx ON candidates (round_id, category);
