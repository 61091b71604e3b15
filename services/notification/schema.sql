-- The notification service's read models, fed by its own events (stream notification-<round_id>)
-- in the transaction of each append.

-- What each recipient address was told (the inbox; one row per notification id).
CREATE TABLE IF NOT EXISTS notifications (
    notification_id uuid        PRIMARY KEY,
    round_id        text        NOT NULL,
    rule            text        NOT NULL,
    recipient       text        NOT NULL,  -- role:<r> | unit:<code> | user:<id> | employee:<no> | everyone
    title           text        NOT NULL,
    body            text        NOT NULL,
    link            text        NOT NULL,
    cause_id        uuid        NOT NULL,
    issued_at       timestamptz NOT NULL,
    position        bigint      NOT NULL   -- the issuing event's position in the log
);
CREATE INDEX IF NOT EXISTS notifications_recipient_idx ON notifications (recipient, position DESC);

-- Which user has read which notification (a notification to a role is read per user).
CREATE TABLE IF NOT EXISTS notification_reads (
    notification_id uuid        NOT NULL,
    user_id         text        NOT NULL,
    read_at         timestamptz NOT NULL,
    PRIMARY KEY (notification_id, user_id)
);

-- Every delivery through a channel other than the inbox (fed by the delivery events): who
-- was told what, when, through which channel, and how it went. One row per delivery id.
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id     uuid        PRIMARY KEY,
    notification_id uuid        NOT NULL,
    round_id        text        NOT NULL,
    channel         text        NOT NULL,  -- email | wecom | dingtalk
    target          text        NOT NULL,  -- user:<id> | robot:office | robot:unit:<code>
    status          text        NOT NULL,  -- trying | delivered | dead_lettered
    attempts        integer     NOT NULL,
    last_error      text,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_notification_idx ON deliveries (notification_id);

-- What the daily rules read, fed by the facts consumer (notification-facts) from
-- nomination's events: the units, the rounds' deadlines, and each round's nominations (who
-- has used their quota).
CREATE TABLE IF NOT EXISTS units (
    unit_code text PRIMARY KEY,
    name      text NOT NULL
);
CREATE TABLE IF NOT EXISTS rounds (
    round_id text        PRIMARY KEY,
    deadline timestamptz NOT NULL  -- the round's (units may have later ones: the ledger)
);
CREATE TABLE IF NOT EXISTS round_nominations (
    nomination_id uuid    PRIMARY KEY,
    round_id      text    NOT NULL,
    unit_code     text    NOT NULL,
    withdrawn     boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS round_nominations_round_idx ON round_nominations (round_id);
