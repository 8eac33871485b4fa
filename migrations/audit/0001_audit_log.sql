-- The audit log (src/audit, docs/enterprise.md "Audit log"). Append-only: rows are inserted by
-- the operator's writer and never changed; each carries the hash of the one before it
-- (src/audit/chain.rs), so a change, a deletion or a reordering shows in `verify-audit`.

-- One row: the last seq and its hash. Writers lock it (SELECT ... FOR UPDATE) for the length of
-- their transaction, so two replicas and the webhook append one chain, never two forks.
CREATE TABLE audit_chain_head (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq bigint NOT NULL,
    hash text NOT NULL
);
INSERT INTO audit_chain_head (id, seq, hash) VALUES (true, 0, repeat('0', 64));

CREATE TABLE audit_log (
    seq bigint PRIMARY KEY CHECK (seq > 0),
    -- The event as canonical JSON text, exactly the bytes hashed (jsonb would normalise them).
    event text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL UNIQUE,
    written_at timestamptz NOT NULL DEFAULT now(),
    -- Read from the event, for queries; generated, so they cannot differ from what is hashed.
    event_id text GENERATED ALWAYS AS ((event::jsonb) ->> 'id') STORED UNIQUE,
    kind text GENERATED ALWAYS AS ((event::jsonb) ->> 'kind') STORED,
    outcome text GENERATED ALWAYS AS ((event::jsonb) ->> 'outcome') STORED,
    actor text GENERATED ALWAYS AS ((event::jsonb) #>> '{actor,username}') STORED,
    namespace text GENERATED ALWAYS AS ((event::jsonb) ->> 'namespace') STORED,
    object_kind text GENERATED ALWAYS AS ((event::jsonb) #>> '{object,kind}') STORED,
    object_name text GENERATED ALWAYS AS ((event::jsonb) #>> '{object,name}') STORED
);
CREATE INDEX audit_log_object ON audit_log (namespace, object_kind, object_name);
CREATE INDEX audit_log_kind ON audit_log (kind, written_at);

-- Append-only for everyone but a superuser: no UPDATE, DELETE or TRUNCATE, by privilege (the
-- owner gives them up too) and by triggers (which also stop the owner re-granting and trying).
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM CURRENT_USER;
REVOKE DELETE, TRUNCATE ON audit_chain_head FROM PUBLIC;
REVOKE DELETE, TRUNCATE ON audit_chain_head FROM CURRENT_USER;
