-- Harbor.Gc postgres: store, schema version 5: each blob row gets an id, and each artifact row its references as those ids, so a
-- collection's snapshot reads 6 bytes a reference instead of 47 and maps the ids through an array instead of hashing digests.
-- blobs.id: assigned by the server (an identity, never reused), in blobs.snapshot before the digest (8 bytes, big-endian).
-- artifacts.ref_keys: per reference, in the manifest's order, a tag byte and what it names, then the kind byte:
--   4: the blob row's id as 4 bytes (ids up to 2^31-1), 8: as 8 bytes, 32 or 64: no blob row id, the raw digest of that length.
-- A reference is written as an id only when the write holds that blob row locked (a push locks every blob its manifest needs, and a
-- blob row is deleted only when no artifact references it), so an id here always names a row; a foreign layer's reference (not
-- locked, not needed) and one to a blob without a row keep their digest. refs stays the artifact's record (sizes, media types,
-- the foreign flag: what a read of the artifact returns), ref_digests stays for its GIN index; the snapshot reads neither.
-- Measured on the 1M-artifact benchmark store before this version (Harbor.Gc.Benchmarks/README.md, session 18): the references
-- 419 bytes an artifact packed as digests, 45 as ids; the server's COPY of the artifacts' snapshot columns 1.2-1.3 s against 0.9-1.0 s.

ALTER TABLE blobs ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE blobs DROP COLUMN snapshot;
ALTER TABLE blobs ADD COLUMN snapshot bytea NOT NULL
    GENERATED ALWAYS AS (int8send(id) || digest || int8send(size) || int8send(GREATEST(created_at, updated_at)) || int2send(status)) STORED;

ALTER TABLE artifacts ADD COLUMN ref_keys bytea;

-- A push's blobs, locked and packed: locks the rows of the blobs the manifest needs (its non-foreign references) in digest order,
-- fails with division_by_zero (the fast write's assertion: the store then writes carefully, and says which blob is missing or
-- being deleted) unless each is there and not being deleted, and returns the references packed as ref_keys, each non-foreign one
-- by the id of the row it locked. A function so that its statement keeps one plan on the connection (planned without its values:
-- a blob lookup by primary key, whatever the digests) instead of being planned on each push, as the store's connections plan
-- their own statements (plan_cache_mode = force_custom_plan): planned each time, the same statement inline cost a push about
-- 45 microseconds of the server's time more (Harbor.Gc.Benchmarks/README.md).
CREATE FUNCTION harbor_gc_push_ref_keys(needed bytea[], refused smallint[], digests bytea[], kinds smallint[], is_foreign boolean[]) RETURNS bytea
    LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    usable bigint;
    packed bytea;
BEGIN
    WITH locked AS MATERIALIZED (SELECT id, digest, status FROM blobs WHERE digest = ANY(needed) ORDER BY digest FOR UPDATE)
    SELECT (SELECT count(*) FROM locked WHERE status <> ALL(refused)),
        (SELECT string_agg(
            CASE WHEN b.id IS NULL THEN substring(int2send(octet_length(r.d)::smallint) FROM 2) || r.d
                 WHEN b.id <= 2147483647 THEN '\x04'::bytea || int4send(b.id::integer)
                 ELSE '\x08'::bytea || int8send(b.id) END
            || substring(int2send(r.k) FROM 2), ''::bytea ORDER BY r.o)
         FROM unnest(digests, kinds, is_foreign) WITH ORDINALITY AS r(d, k, f, o) LEFT JOIN locked AS b ON b.digest = r.d AND NOT r.f)
    INTO usable, packed;
    IF usable <> coalesce(cardinality(needed), 0) THEN
        RAISE EXCEPTION 'a blob this push needs is missing or being deleted' USING ERRCODE = 'division_by_zero';
    END IF;
    RETURN coalesce(packed, ''::bytea);
END
$$;

-- each reference of refs (schema version 3's format: length byte, digest, int8 size, int4 media type, kind byte, foreign byte) at
-- its offset, found from ref_digests (the same references in the same order), its kind and foreign flag read from refs
UPDATE artifacts AS a SET ref_keys = COALESCE((
    SELECT string_agg(
        CASE WHEN b.id IS NULL THEN substring(int2send(octet_length(e.d)::smallint) FROM 2) || e.d
             WHEN b.id <= 2147483647 THEN '\x04'::bytea || int4send(b.id::integer)
             ELSE '\x08'::bytea || int8send(b.id) END
        || substring(int2send(e.kind) FROM 2), ''::bytea ORDER BY e.o)
    FROM (
        SELECT r.d, r.o, get_byte(a.refs, r.at + 1 + octet_length(r.d) + 12)::smallint AS kind, get_byte(a.refs, r.at + 1 + octet_length(r.d) + 13) = 1 AS is_foreign
        FROM (
            SELECT u.d, u.o, (sum(15 + octet_length(u.d)) OVER (ORDER BY u.o) - 15 - octet_length(u.d))::integer AS at
            FROM unnest(a.ref_digests) WITH ORDINALITY AS u(d, o)) AS r) AS e
    LEFT JOIN blobs AS b ON b.digest = e.d AND NOT e.is_foreign), ''::bytea);

ALTER TABLE artifacts ALTER COLUMN ref_keys SET NOT NULL;

-- the update above left every old row version behind: rewrite the table (and its indexes) with the live rows only, as migration 3 does
ALTER TABLE artifacts ALTER COLUMN version TYPE bigint USING version + 0;
