-- Harbor.Gc postgres: store, schema version 1 (DESIGN.md, "PostgreSQL store").
-- Applied by PostgresSchema in one transaction, under the schema's advisory lock, with its row in harbor_gc_schema.
-- Digests are their raw hash (bytea: 32 bytes sha256, 64 bytes sha512, the length names the algorithm).
-- Times are UTC ticks (100 ns since 0001-01-01), exact, so the sweep's compare-and-swap on a blob's last touch compares what was stored.

CREATE TABLE harbor_gc_store (
    id text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO harbor_gc_store (id) VALUES (replace(gen_random_uuid()::text, '-', ''));

-- the artifact version counter (a deletion is a compare-and-swap on the version the plan saw)
CREATE SEQUENCE artifact_version AS bigint;

CREATE TABLE blobs (
    digest bytea PRIMARY KEY CHECK (octet_length(digest) IN (32, 64)),
    size bigint NOT NULL,
    media_type text,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    status smallint NOT NULL DEFAULT 0 CHECK (status BETWEEN 0 AND 4)
);

-- references and children inline, as arrays: one row per manifest; "is this blob referenced" and "which indexes list this
-- manifest" are GIN index lookups
CREATE TABLE artifacts (
    repository text NOT NULL,
    digest bytea NOT NULL CHECK (octet_length(digest) IN (32, 64)),
    media_type text NOT NULL,
    kind smallint NOT NULL,
    artifact_type text,
    size bigint NOT NULL,
    pushed_at bigint NOT NULL,
    first_pushed_at bigint NOT NULL,
    pulled_at bigint,
    labels text[] NOT NULL,
    ref_digests bytea[] NOT NULL,
    ref_sizes bigint[] NOT NULL,
    ref_media_types text[] NOT NULL,
    ref_kinds smallint[] NOT NULL,
    ref_foreign boolean[] NOT NULL,
    children bytea[] NOT NULL,
    subject bytea,
    parse_problem text,
    version bigint NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX artifacts_ref_digests ON artifacts USING gin (ref_digests);
CREATE INDEX artifacts_children ON artifacts USING gin (children);

CREATE TABLE tags (
    repository text NOT NULL,
    name text NOT NULL,
    digest bytea NOT NULL,
    pushed_at bigint NOT NULL,
    pulled_at bigint,
    PRIMARY KEY (repository, name),
    FOREIGN KEY (repository, digest) REFERENCES artifacts (repository, digest) ON DELETE CASCADE
);
CREATE INDEX tags_artifact ON tags (repository, digest);

CREATE TABLE accessory_links (
    repository text NOT NULL,
    accessory bytea NOT NULL,
    subject bytea NOT NULL,
    type text NOT NULL,
    strength smallint NOT NULL,
    tag_scheme boolean NOT NULL,
    PRIMARY KEY (repository, accessory)
);
CREATE INDEX accessory_links_subject ON accessory_links (repository, subject);

CREATE TABLE layer_links (
    repository text NOT NULL,
    digest bytea NOT NULL,
    created_at bigint NOT NULL,
    PRIMARY KEY (repository, digest)
);
