-- Tenants and their tokens (issue 23). A tenant owns its jobs, the modules it uploaded (a
-- module's bytes are stored once, each uploader owns it) and the names it gave them; what
-- was stored before tenants existed belongs to `default`, the tenant of `serve --token`.
CREATE TABLE tenants (
    name        TEXT PRIMARY KEY,
    -- Quotas (NULL: none): most queued jobs, and the largest limits a job may ask for.
    max_queued      BIGINT,
    max_timeout_ms  BIGINT,
    max_memory_mb   BIGINT,
    max_fuel        BIGINT,
    created_at  BIGINT NOT NULL             -- µs since the Unix epoch
);
INSERT INTO tenants (name, created_at) VALUES ('default', wasmpool_now());

-- A token is kept only as the SHA-256 of its secret: the secret is shown once, at creation.
CREATE TABLE tokens (
    id          BIGSERIAL PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES tenants (name),
    scope       TEXT NOT NULL CHECK (scope IN ('read', 'submit', 'admin')),
    secret_hash TEXT NOT NULL UNIQUE,       -- hex SHA-256 of the secret
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,                     -- µs; NULL: never
    revoked_at  BIGINT                      -- µs; NULL: in force
);

-- No index on the tenant: every index a job's transitions touch is paid on every job, and a
-- listing's tenant condition rides on the indexes it already uses.
ALTER TABLE jobs ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
-- A tenant's queued jobs, counted against its quota; the default tenant (which has no quota)
-- is left out, so a single-tenant service pays nothing for it.
CREATE INDEX jobs_queued_by_tenant ON jobs (tenant) WHERE state = 'queued' AND tenant <> 'default';

CREATE TABLE module_owners (
    tenant  TEXT NOT NULL,
    hash    TEXT NOT NULL REFERENCES modules (hash) ON DELETE CASCADE,
    PRIMARY KEY (tenant, hash)
);
INSERT INTO module_owners (tenant, hash) SELECT 'default', hash FROM modules;
