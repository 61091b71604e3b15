-- The publicity service's read models.
-- Own events (stream publicity-<round_id>) feed the first three tables in the transaction of
-- each append; the stat_* tables are fed by the consumers of nomination's and review's events.

CREATE TABLE IF NOT EXISTS publicity_rounds (
    round_id            text        PRIMARY KEY,
    result_published_at timestamptz NOT NULL,
    meeting_date        date        NOT NULL,
    categories          jsonb       NOT NULL,
    winners             jsonb       NOT NULL,  -- FeaturedWinner, as drafted
    drafted_at          timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS materials (
    material_id  uuid        PRIMARY KEY,
    round_id     text        NOT NULL,
    kind         text        NOT NULL,
    status       text        NOT NULL,  -- draft | approved | published
    revision     integer     NOT NULL,
    channels     jsonb       NOT NULL,
    publications jsonb       NOT NULL DEFAULT '[]',  -- [{channel, revision, by, at}]
    title        text        NOT NULL,
    content      jsonb       NOT NULL,
    nomination_id uuid,                  -- a correction's revoked winner
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS materials_round_idx ON materials (round_id, kind);

-- Who the honor roll features now (a revoked winner stays, marked revoked).
CREATE TABLE IF NOT EXISTS honor_roll (
    round_id      text    NOT NULL,
    nomination_id uuid    NOT NULL,
    category      text    NOT NULL,
    employee_no   text    NOT NULL,
    name          text    NOT NULL,
    unit_code     text    NOT NULL,
    unit_name     text    NOT NULL,
    position      text    NOT NULL,
    revoked       boolean NOT NULL DEFAULT false,
    revoked_reason text,
    PRIMARY KEY (round_id, nomination_id)
);
-- The winner's photo (WinnerPhotoAttached): its name in the file store, who gave it, when.
ALTER TABLE honor_roll ADD COLUMN IF NOT EXISTS photo_sha256 text;
ALTER TABLE honor_roll ADD COLUMN IF NOT EXISTS photo_by text;
ALTER TABLE honor_roll ADD COLUMN IF NOT EXISTS photo_at timestamptz;

-- Statistics (调研报告): facts from the nomination and review services.
CREATE TABLE IF NOT EXISTS stat_units (
    unit_code text PRIMARY KEY,
    name      text NOT NULL
);

CREATE TABLE IF NOT EXISTS stat_rounds (
    round_id            text PRIMARY KEY,
    opened_at           timestamptz,
    closed_at           timestamptz,
    result_published_at timestamptz
);

-- One row per nomination; filled by whichever event arrives first, completed by the rest.
CREATE TABLE IF NOT EXISTS stat_nominations (
    nomination_id uuid    PRIMARY KEY,
    round_id      text    NOT NULL,
    category      text    NOT NULL,
    unit_code     text,
    unit_name     text,
    employee_no   text,
    name          text,
    withdrawn     boolean NOT NULL DEFAULT false,
    audit         text,             -- accepted | rejected | NULL (not audited yet)
    reject_reason text,
    vetoed        boolean NOT NULL DEFAULT false,
    winner        boolean NOT NULL DEFAULT false,
    revoked       boolean NOT NULL DEFAULT false,
    score         numeric           -- the aggregated score of a published winner
);
CREATE INDEX IF NOT EXISTS stat_nominations_round_idx ON stat_nominations (round_id);

-- A panelist's latest score sheet per nomination.
CREATE TABLE IF NOT EXISTS stat_scores (
    nomination_id uuid    NOT NULL,
    panelist_id   text    NOT NULL,
    round_id      text    NOT NULL,
    department    text    NOT NULL,
    total         numeric NOT NULL,
    revision      integer NOT NULL,
    PRIMARY KEY (nomination_id, panelist_id)
);

CREATE TABLE IF NOT EXISTS stat_removed_panelists (
    round_id    text NOT NULL,
    panelist_id text NOT NULL,
    PRIMARY KEY (round_id, panelist_id)
);

-- Awards as rewards granted them (AwardGranted / AwardRevoked): the reports' award totals.
CREATE TABLE IF NOT EXISTS stat_awards (
    award_id        uuid    PRIMARY KEY,
    nomination_id   uuid    NOT NULL,
    round_id        text    NOT NULL,
    amount          numeric NOT NULL,
    currency        text    NOT NULL,
    revoked         boolean NOT NULL DEFAULT false
);


-- Each nomination's consent to public display, heard from nomination (the statistics
-- consumer): {"uses": [...]}, or NULL when not recorded (= no consent). The drafts read it.
CREATE TABLE IF NOT EXISTS publicity_consents (
    nomination_id uuid PRIMARY KEY,
    consent       jsonb
);
