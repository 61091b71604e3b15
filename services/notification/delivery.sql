-- The notification service's working tables: not read models (the audit does not rebuild
-- them, and nothing in the log feeds them): the delivery task's work and the address book.

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

-- The data subject (shared/personal_data) of a contact's employee number: an erasure or a
-- retention run names people only by this pseudonym, so it is kept to find what to forget
-- (services/notification/addressbook.py forget).
ALTER TABLE contacts ADD COLUMN IF NOT EXISTS subject_id uuid;
CREATE INDEX IF NOT EXISTS contacts_subject_idx ON contacts (subject_id);
