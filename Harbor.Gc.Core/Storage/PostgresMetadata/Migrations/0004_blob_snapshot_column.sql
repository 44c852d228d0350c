-- Harbor.Gc postgres: store, schema version 4: each blob row carries the fields a collection's snapshot reads of it packed in one
-- generated column, blobs.snapshot: the raw digest (32 or 64 bytes), the size (8 bytes), the last touch (8 bytes: the later of
-- created_at and updated_at, Blob.LastTouchedAt) and the status (2 bytes), big-endian as int8send and int2send write them. The
-- server computes it on every insert and update (a generated column cannot be written), so no write path has to keep it.
-- Why: a binary COPY costs the server a send call per field. At 2.9M blobs their five fields took 1.2 s of its time and the one
-- packed field 0.7 s (Harbor.Gc.Benchmarks/README.md, "The recorded blobs in an array, and one packed field a blob"). Adding the column rewrites the
-- table once. The same for the artifacts' scalar fields measured no gain (their rows are large; the scan and the references
-- dominate) and is not done.
ALTER TABLE blobs ADD COLUMN snapshot bytea NOT NULL
    GENERATED ALWAYS AS (digest || int8send(size) || int8send(GREATEST(created_at, updated_at)) || int2send(status)) STORED;
