-- The meeting video of a storyboard revision: a file rendered from the approved storyboard
-- (services/publicity/videojobs.py), not a read model of events, so not one of the audit's
-- projections: its progress while ffmpeg renders it in the background, then the MP4.
CREATE TABLE IF NOT EXISTS videos (
    material_id uuid        NOT NULL,
    revision    integer     NOT NULL,
    status      text        NOT NULL,  -- queued | rendering | done | failed
    progress    real        NOT NULL DEFAULT 0,
    error       text,
    content     bytea,
    started_by  text        NOT NULL,
    started_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (material_id, revision)
);
