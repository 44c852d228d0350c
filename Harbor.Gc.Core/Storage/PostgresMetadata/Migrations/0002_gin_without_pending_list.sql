-- Harbor.Gc postgres: store, schema version 2: the GIN indexes of references and children without a pending list.
-- With fastupdate on (PostgreSQL's default) a push adds its entries to the index's pending list, which every search reads whole
-- until a vacuum (or 4 MB of it) merges it into the index; and the planner prices those pages in. On the benchmark's 100k-artifact
-- store 3,000 pushes left 4,685 pending entries, and the sweep's "is this blob referenced" lookup turned from a 0.05 ms index scan
-- into a 75 ms sequential scan of the artifacts (Harbor.Gc.Benchmarks/README.md, "The postgres: store"). With it off, each push
-- writes its entries into the index itself (a few pages more per push), and every lookup stays an index scan.
ALTER INDEX artifacts_ref_digests SET (fastupdate = off);
ALTER INDEX artifacts_children SET (fastupdate = off);
-- what is pending already is merged now: turning fastupdate off does not empty the list
SELECT gin_clean_pending_list('artifacts_ref_digests'::regclass);
SELECT gin_clean_pending_list('artifacts_children'::regclass);
