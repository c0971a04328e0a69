-- 0001: the whole first schema of sentinel_backend.

CREATE TABLE nodes (
    node_id        text PRIMARY KEY,
    name           text,
    model          text,
    location       jsonb,
    token_hash     bytea NOT NULL UNIQUE,
    status         text NOT NULL DEFAULT 'online'
                   CHECK (status IN ('online', 'offline', 'covert')),
    blackout       boolean NOT NULL DEFAULT false,
    outbox_depth   integer,
    last_heartbeat timestamptz,
    registered_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per stored detection; (node_id, seq) is the identity everywhere.
CREATE TABLE detections (
    id            bigserial PRIMARY KEY,
    node_id       text NOT NULL,
    seq           bigint NOT NULL CHECK (seq >= 1),
    event_id      uuid,
    captured_at   timestamptz NOT NULL,
    payload       jsonb NOT NULL,
    content_hash  bytea NOT NULL,
    committed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT detections_identity UNIQUE (node_id, seq)
);
CREATE INDEX detections_captured_at ON detections (captured_at);

-- The stream outbox: written in the same transaction as the change it announces;
-- the single sequencer stamps `seq` (gap-free, in commit order) afterwards.
CREATE TABLE stream_events (
    id            bigserial PRIMARY KEY,
    seq           bigint UNIQUE,
    type          text NOT NULL CHECK (type IN ('detection', 'node_status', 'blackout')),
    detection_id  bigint,
    data          jsonb,
    committed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX stream_events_unsequenced ON stream_events (id) WHERE seq IS NULL;
CREATE INDEX stream_events_detection ON stream_events (detection_id)
    WHERE detection_id IS NOT NULL;

CREATE TABLE blackout_events (
    id                 bigserial PRIMARY KEY,
    node_id            text NOT NULL REFERENCES nodes (node_id),
    activated_at       timestamptz NOT NULL DEFAULT now(),
    activated_by       text NOT NULL,
    reason             text NOT NULL,
    deactivated_at     timestamptz,
    deactivated_by     text,
    deactivate_reason  text,
    detections_queued  integer
);
CREATE UNIQUE INDEX blackout_one_active ON blackout_events (node_id)
    WHERE deactivated_at IS NULL;

-- The spec's persistent command queue.
CREATE TABLE node_commands (
    id               bigserial PRIMARY KEY,
    node_id          text NOT NULL REFERENCES nodes (node_id),
    type             text NOT NULL,
    payload          jsonb NOT NULL DEFAULT '{}'::jsonb,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'acked', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by       text NOT NULL,
    delivered_at     timestamptz,
    acked_at         timestamptz,
    result           jsonb
);
CREATE INDEX node_commands_due ON node_commands (node_id, next_attempt_at)
    WHERE status IN ('pending', 'delivered');

-- Append-only audit log: who did what, when. UPDATE, DELETE and TRUNCATE are refused.
CREATE TABLE audit_log (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    action  text NOT NULL,
    target  text,
    details jsonb
);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END $$;

CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
