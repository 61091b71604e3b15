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

-- How far each nomination-service stream has been applied (its events' versions arrive in
-- order per stream; a later one waits for a gap to fill): keeps per-round order.
CREATE TABLE IF NOT EXISTS nomination_streams (
    stream_id   text    PRIMARY KEY,
    version     integer NOT NULL
);

-- The review's own read models, updated in the transaction of each append.
CREATE TABLE IF NOT EXISTS audits (
    nomination_id   uuid        PRIMARY KEY,
    round_id        text        NOT NULL,
    category        text        NOT NULL,
    status          text        NOT NULL,  -- accepted | rejected
    reason          text,
    audited_by      text        NOT NULL,
    audited_at      timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS panelists (
    round_id        text        NOT NULL,
    panelist_id     text        NOT NULL,
    employee_no     text        NOT NULL,
    name            text        NOT NULL,
    department      text        NOT NULL,
    unit_code       text,
    active          boolean     NOT NULL,
    assigned_by     text        NOT NULL,
    assigned_at     timestamptz NOT NULL,
    removed_reason  text,
    PRIMARY KEY (round_id, panelist_id)
);
CREATE INDEX IF NOT EXISTS panelists_panelist_idx ON panelists (panelist_id);
-- The office's last reminder to score (PanelistReminded), and how many were sent.
ALTER TABLE panelists ADD COLUMN IF NOT EXISTS reminded_at timestamptz;
ALTER TABLE panelists ADD COLUMN IF NOT EXISTS reminded_by text;
ALTER TABLE panelists ADD COLUMN IF NOT EXISTS reminders integer NOT NULL DEFAULT 0;

-- Panelists' score sheets: internal; queries apply the no-anchoring rule before showing any.
CREATE TABLE IF NOT EXISTS scores (
    round_id        text        NOT NULL,
    nomination_id   uuid        NOT NULL,
    panelist_id     text        NOT NULL,
    category        text        NOT NULL,
    department      text        NOT NULL,
    criteria        jsonb       NOT NULL,
    total           numeric     NOT NULL,
    revision        integer     NOT NULL,
    comment         text,
    submitted_at    timestamptz NOT NULL,
    PRIMARY KEY (nomination_id, panelist_id)
);
CREATE INDEX IF NOT EXISTS scores_round_idx ON scores (round_id, panelist_id);

CREATE TABLE IF NOT EXISTS vetoes (
    nomination_id   uuid        PRIMARY KEY,
    round_id        text        NOT NULL,
    category        text        NOT NULL,
    reason          text        NOT NULL,
    vetoed_by       text        NOT NULL,
    vetoed_at       timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS decisions (
    round_id            text        NOT NULL,
    category            text        NOT NULL,
    winners             jsonb       NOT NULL,  -- nomination ids, in ranking order
    ranking             jsonb       NOT NULL,  -- the frozen ranking
    method              jsonb       NOT NULL,
    off_ranking_reason  text,
    decided_by          text        NOT NULL,
    decided_at          timestamptz NOT NULL,
    PRIMARY KEY (round_id, category)
);

-- Provisional winners: from the decision or named as a replacement; removed when an
-- objection against them is upheld.
CREATE TABLE IF NOT EXISTS winners (
    round_id        text        NOT NULL,
    category        text        NOT NULL,
    nomination_id   uuid        NOT NULL,
    source          text        NOT NULL,  -- decision | replacement
    replaces        uuid,
    off_ranking_reason text,
    removed         boolean     NOT NULL DEFAULT false,
    removed_reason  text,
    removed_by_objection integer,
    PRIMARY KEY (round_id, nomination_id)
);

CREATE TABLE IF NOT EXISTS notices (
    round_id        text        NOT NULL,
    notice_no       integer     NOT NULL,
    occasion        text        NOT NULL,  -- decision | replacement
    categories      jsonb       NOT NULL,
    winners         jsonb       NOT NULL,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    working_days    integer     NOT NULL,
    first_day       date        NOT NULL,
    last_day        date        NOT NULL,
    calendar_fallback_years jsonb NOT NULL,
    started_by      text        NOT NULL,
    PRIMARY KEY (round_id, notice_no)
);

CREATE TABLE IF NOT EXISTS objections (
    round_id        text        NOT NULL,
    objection_no    integer     NOT NULL,
    nomination_id   uuid        NOT NULL,
    category        text        NOT NULL,
    raised_by       text        NOT NULL,
    raiser_name     text        NOT NULL,
    text            text        NOT NULL,
    raised_at       timestamptz NOT NULL,
    notes           jsonb       NOT NULL DEFAULT '[]',
    status          text        NOT NULL,  -- open | dismissed | upheld
    resolution      text,
    resolved_by     text,
    resolved_at     timestamptz,
    PRIMARY KEY (round_id, objection_no)
);

CREATE TABLE IF NOT EXISTS results (
    round_id        text        PRIMARY KEY,
    categories      jsonb       NOT NULL,
    winners         jsonb       NOT NULL,  -- PublishedWinner, as published
    published_by    text        NOT NULL,
    published_at    timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS revocations (
    nomination_id   uuid        PRIMARY KEY,
    round_id        text        NOT NULL,
    category        text        NOT NULL,
    employee_no     text        NOT NULL,
    name            text        NOT NULL,
    reason          text        NOT NULL,
    revoked_by      text        NOT NULL,
    revoked_at      timestamptz NOT NULL
);
