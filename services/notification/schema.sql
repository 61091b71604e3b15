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
