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

-- Not read models (the audit does not rebuild them): the delivery task's work, and the
-- address book.

-- Deliveries planned and when each is due; `done` once the log says delivered or dead.
CREATE TABLE IF NOT EXISTS delivery_queue (
    delivery_id     uuid        PRIMARY KEY,
    notification_id uuid        NOT NULL,
    channel         text        NOT NULL,
    target          text        NOT NULL,
    due_at          timestamptz NOT NULL,
    done            boolean     NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS delivery_queue_due_idx ON delivery_queue (due_at) WHERE NOT done;

-- How far the delivery task has planned: the position of the last notification planned.
CREATE TABLE IF NOT EXISTS delivery_planned (
    id       integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    position bigint  NOT NULL
);

-- The address book: each user who opened 通知设置 (who they are to the rules, from their
-- signed identity, refreshed whenever they read their inbox), their e-mail address and
-- preferences. Personal data: kept here, never in an event, so it can be erased.
CREATE TABLE IF NOT EXISTS contacts (
    user_id     text        PRIMARY KEY,
    roles       text[]      NOT NULL DEFAULT '{}',
    unit_code   text,
    employee_no text,
    email       text,
    channels    text[]      NOT NULL DEFAULT '{inbox}',
    quiet_start time,                  -- Beijing; both null: no quiet hours
    quiet_end   time,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS contacts_employee_idx ON contacts (employee_no);
