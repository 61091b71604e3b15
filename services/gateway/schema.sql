-- The gateway's own database: accounts, sessions, API tokens, sign-in throttling.
-- Secrets are stored only as SHA-256 digests (session ids, API tokens) or argon2id hashes
-- (passwords): a copy of this database lets nobody sign in.
CREATE TABLE IF NOT EXISTS users (
    user_id       uuid        PRIMARY KEY,
    username      text        NOT NULL UNIQUE,
    display_name  text        NOT NULL,
    password_hash text        NOT NULL,
    roles         text[]      NOT NULL DEFAULT '{}',
    unit_code     text,                 -- the unit a nominator acts for (also a panelist's own)
    department    text,                 -- a panelist's department
    employee_no   text,                 -- the user's own entry in the directory, when known
    active        boolean     NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text        NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT nominator_has_unit CHECK (NOT ('nominator' = ANY (roles)) OR unit_code IS NOT NULL),
    CONSTRAINT panelist_has_department CHECK (NOT ('panelist' = ANY (roles)) OR department IS NOT NULL)
);

CREATE TABLE IF NOT EXISTS sessions (
    session_hash  text        PRIMARY KEY,   -- sha256 of the cookie's value
    user_id       uuid        NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,      -- the absolute limit
    client_ip     text        NOT NULL DEFAULT '',
    user_agent    text        NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS sessions_user_idx ON sessions (user_id);

CREATE TABLE IF NOT EXISTS api_tokens (
    token_id      uuid        PRIMARY KEY,
    token_hash    text        NOT NULL UNIQUE,   -- sha256 of the bearer token
    user_id       uuid        NOT NULL REFERENCES users ON DELETE CASCADE,
    name          text        NOT NULL,
    created_at    timestamptz NOT NULL,
    created_by    text        NOT NULL,
    last_used_at  timestamptz,
    revoked_at    timestamptz
);

-- Failures counted for throttling (services/gateway/auth.py SigninThrottle): per scope
-- (signin_pair: "address username", signin_user: username, signin_address: address,
-- password_check: user id). Short-lived counts: the table before it (signin_failures, per
-- username and address only) is dropped, not carried over.
DROP TABLE IF EXISTS signin_failures;
CREATE TABLE IF NOT EXISTS throttle_failures (
    scope           text        NOT NULL,
    key             text        NOT NULL,
    failures        integer     NOT NULL,
    first_failed_at timestamptz NOT NULL,
    locked_until    timestamptz,
    PRIMARY KEY (scope, key)
);

-- Requests to the pages open to anonymous visitors (the public notice, activation, OIDC),
-- counted per client address in a 60 s window (services/gateway/notice.py PublicRateLimit);
-- in the database so that every gateway instance shares one count.
CREATE TABLE IF NOT EXISTS public_request_counts (
    address           text        PRIMARY KEY,
    window_started_at timestamptz NOT NULL,
    hits              integer     NOT NULL
);

-- Who changed which account, when: the gateway's own audit trail (it has no event log).
CREATE TABLE IF NOT EXISTS account_changes (
    change_id   bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    action      text        NOT NULL,
    user_id     uuid,
    details     jsonb       NOT NULL DEFAULT '{}'
);

-- The key that signs CSRF tokens, made once per installation (shared by every gateway instance).
CREATE TABLE IF NOT EXISTS gateway_secret (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    secret      text    NOT NULL
);

-- A nominator's unfinished nomination form, one per account and round (services/gateway/
-- drafts.py): private to its author, not a nomination until it is submitted (then deleted).
CREATE TABLE IF NOT EXISTS nomination_drafts (
    user_id     uuid        NOT NULL REFERENCES users ON DELETE CASCADE,
    round_id    text        NOT NULL,
    form        jsonb       NOT NULL,
    saved_at    timestamptz NOT NULL,
    PRIMARY KEY (user_id, round_id)
);

-- Accounts made from the employee directory (services/gateway/employees.py): user name = the
-- employee number, role "employee", no password until activated with a one-time code.
ALTER TABLE users ADD COLUMN IF NOT EXISTS provisioned boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN IF NOT EXISTS activated_at timestamptz;
CREATE UNIQUE INDEX IF NOT EXISTS users_provisioned_employee_idx
    ON users (employee_no) WHERE provisioned;

-- One-time activation codes, as SHA-256 digests: single use, expiring; a new sheet replaces a
-- unit's codes not yet used.
CREATE TABLE IF NOT EXISTS activation_codes (
    user_id     uuid        PRIMARY KEY REFERENCES users ON DELETE CASCADE,
    code_hash   text        NOT NULL,
    issued_at   timestamptz NOT NULL,
    issued_by   text        NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

-- OpenID Connect sign-ins under way (services/gateway/oidc.py): the state names the row; the
-- PKCE verifier and the nonce never leave the gateway. Rows live minutes.
CREATE TABLE IF NOT EXISTS oidc_logins (
    state_hash  text        PRIMARY KEY,
    nonce       text        NOT NULL,
    verifier    text        NOT NULL,
    next_path   text        NOT NULL,
    created_at  timestamptz NOT NULL
);

-- Who looked at personal data (services/gateway/access_log.py): every read through the
-- auditor's event browser and every download that carries personal data, with the viewer, the
-- page or file, the employees concerned and the client address. Append-only: a trigger refuses
-- UPDATE, DELETE and TRUNCATE (the run-time role cannot drop it: the owner owns it), and each
-- row's chain_hash covers the previous row's, so a row changed or removed by the owner breaks
-- the chain that the access-record page and API verify.
CREATE TABLE IF NOT EXISTS personal_data_access (
    position     bigint      PRIMARY KEY CHECK (position > 0),
    at           timestamptz NOT NULL,
    viewer_id    text        NOT NULL,
    viewer_name  text        NOT NULL,
    viewer_roles text[]      NOT NULL,
    client_ip    text        NOT NULL,
    what         text        NOT NULL,   -- see access_log.WHAT_LABELS
    round_id     text,                   -- the round (or payroll period) read, when one
    subjects     text[]      NOT NULL,   -- the employee numbers concerned
    detail       jsonb       NOT NULL,   -- path, streams, positions, file name, reason
    prev_hash    text        NOT NULL,
    chain_hash   text        NOT NULL
);
CREATE INDEX IF NOT EXISTS personal_data_access_subjects_idx
    ON personal_data_access USING gin (subjects);
CREATE INDEX IF NOT EXISTS personal_data_access_viewer_idx
    ON personal_data_access (viewer_id, position);
CREATE INDEX IF NOT EXISTS personal_data_access_at_idx ON personal_data_access (at);

CREATE OR REPLACE FUNCTION personal_data_access_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'personal_data_access is append-only';
END
$$;
CREATE OR REPLACE TRIGGER personal_data_access_no_change
    BEFORE UPDATE OR DELETE ON personal_data_access
    FOR EACH ROW EXECUTE FUNCTION personal_data_access_append_only();
CREATE OR REPLACE TRIGGER personal_data_access_no_truncate
    BEFORE TRUNCATE ON personal_data_access
    FOR EACH STATEMENT EXECUTE FUNCTION personal_data_access_append_only();

-- Evidence files kept in the content-addressed file store (services/gateway/evidence.py), by
-- the SHA-256 of their bytes, with the last time a form or the API sent or kept them. The
-- sweep (services/gateway/evidence_sweep.py) deletes a file once no nomination and no draft
-- names it and it is older than the grace period: only files listed here (the store may be
-- shared with publicity's photos, which are not evidence).
CREATE TABLE IF NOT EXISTS evidence_uploads (
    digest           text        PRIMARY KEY CHECK (digest ~ '^[0-9a-f]{64}$'),
    last_uploaded_at timestamptz NOT NULL
);

-- A bearer token's user is held for a few seconds by the gateway process that looked it up
-- (services/gateway/accounts.py TokenCache). Whatever changes a user or a token, from any
-- process, tells every gateway listening to drop what it holds.
CREATE OR REPLACE FUNCTION credentials_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('flowers_credentials', '');
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER users_changed
    AFTER UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION credentials_changed();
CREATE OR REPLACE TRIGGER api_tokens_changed
    AFTER UPDATE OF token_hash, user_id, revoked_at OR DELETE OR TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION credentials_changed();
