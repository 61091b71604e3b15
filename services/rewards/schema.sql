-- The rewards service's read models, updated in the same transaction as each append.
-- Every row follows from the log (projections.py); nothing here is edited by hand.

CREATE TABLE IF NOT EXISTS awards (
    award_id                uuid          PRIMARY KEY,
    round_id                text          NOT NULL,
    round_year              integer       NOT NULL,
    category                text          NOT NULL,
    nomination_id           uuid          NOT NULL,
    employee_no             text          NOT NULL,
    name                    text          NOT NULL,
    unit_code               text          NOT NULL,
    unit_name               text          NOT NULL,
    position                text          NOT NULL,
    deeds                   text          NOT NULL,
    score                   numeric       NOT NULL,
    amount                  numeric(14,2) NOT NULL,
    currency                text          NOT NULL,
    adjustment_id           uuid          NOT NULL,
    period                  text          NOT NULL,
    published_at            timestamptz   NOT NULL,
    granted_at              timestamptz   NOT NULL,
    status                  text          NOT NULL,  -- granted | revoked
    revoked_at              timestamptz,
    revoked_by              text,
    revoke_reason           text,
    reversal_adjustment_id  uuid,
    reversal_period         text,
    log_position            bigint        NOT NULL
);
CREATE INDEX IF NOT EXISTS awards_round_idx ON awards (round_id, category);
CREATE INDEX IF NOT EXISTS awards_year_idx ON awards (round_year, employee_no);
CREATE INDEX IF NOT EXISTS awards_period_idx ON awards (period);
CREATE INDEX IF NOT EXISTS awards_reversal_period_idx ON awards (reversal_period);

-- One row per adjustment (an award's, or a reversal's), keyed for the pull feed by position.
CREATE TABLE IF NOT EXISTS adjustments (
    adjustment_id           uuid          PRIMARY KEY,
    position                bigint        NOT NULL UNIQUE,
    kind                    text          NOT NULL,  -- award | reversal
    award_id                uuid          NOT NULL,
    reverses_adjustment_id  uuid,
    round_id                text          NOT NULL,
    category                text          NOT NULL,
    employee_no             text          NOT NULL,
    name                    text          NOT NULL,
    unit_code               text          NOT NULL,
    unit_name               text          NOT NULL,
    amount                  numeric(14,2) NOT NULL,
    currency                text          NOT NULL,
    period                  text          NOT NULL,
    reason_code             text          NOT NULL,
    description_zh          text          NOT NULL,
    tax_treatment           text          NOT NULL,
    issued_at               timestamptz   NOT NULL
);
CREATE INDEX IF NOT EXISTS adjustments_period_idx ON adjustments (period, position);

-- Payroll's acknowledgements: one per adjustment id, ever (known or not).
CREATE TABLE IF NOT EXISTS acknowledgements (
    adjustment_id       uuid          PRIMARY KEY,
    period              text          NOT NULL,
    amount              numeric(14,2) NOT NULL,
    currency            text          NOT NULL,
    known               boolean       NOT NULL,
    payroll_reference   text,
    acknowledged_by     text          NOT NULL,
    acknowledged_at     timestamptz   NOT NULL,
    position            bigint        NOT NULL
);
CREATE INDEX IF NOT EXISTS acknowledgements_period_idx ON acknowledgements (period);

-- A period is closed from payroll's first acknowledgement in it (see payroll.py).
CREATE TABLE IF NOT EXISTS payroll_periods (
    period              text          PRIMARY KEY,
    closed_at           timestamptz   NOT NULL,
    closed_by           text          NOT NULL,
    acknowledgements    integer       NOT NULL
);
