namespace Harbor.Gc.Tests.Integration;

/// <summary>
/// The tables of Harbor v2.15.2 that the <c>harbor:</c> store reads, as this project's own SQL written from the schema facts (column
/// names and types at that version; Harbor's migration files are not copied): used by the tests' <see cref="HarborDatabase"/> and by
/// the benchmarks' Harbor installation, which fills the same tables in bulk.
/// </summary>
/// <remarks>
/// The schema states the column names and types of Harbor v2.15.2 (its migrations up to <c>0180_2.15.0</c>, schema_migrations version
/// 180) for the columns the store reads, plus their keys; every other column Harbor has is left out. Times are <c>timestamp</c>
/// without a zone holding UTC, as Harbor writes them.
/// </remarks>
internal static class HarborSchema
{
    /// <summary>The schema version Harbor v2.15.x records in <c>schema_migrations</c>.</summary>
    public const long Version = 180;

    /// <summary>The tables of Harbor v2.15.2 the store reads: only the columns it reads, and their keys.</summary>
    public const string Sql = """
        CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
        CREATE TABLE project (
            project_id serial PRIMARY KEY,
            name varchar(255) NOT NULL UNIQUE,
            deleted boolean NOT NULL DEFAULT false);
        CREATE TABLE repository (
            repository_id serial PRIMARY KEY,
            name varchar(255) NOT NULL UNIQUE,
            project_id int NOT NULL);
        CREATE TABLE artifact (
            id serial PRIMARY KEY,
            type varchar(255) NOT NULL,
            media_type varchar(255) NOT NULL,
            manifest_media_type varchar(255) NOT NULL,
            artifact_type varchar(255) NOT NULL,
            project_id int NOT NULL,
            repository_id int NOT NULL,
            repository_name varchar(255) NOT NULL,
            digest varchar(255) NOT NULL,
            size bigint,
            push_time timestamp DEFAULT CURRENT_TIMESTAMP,
            pull_time timestamp,
            annotations jsonb,
            CONSTRAINT unique_artifact UNIQUE (repository_id, digest));
        CREATE TABLE tag (
            id serial PRIMARY KEY,
            repository_id int NOT NULL,
            artifact_id int NOT NULL REFERENCES artifact (id),
            name varchar(255) NOT NULL,
            push_time timestamp DEFAULT CURRENT_TIMESTAMP,
            pull_time timestamp,
            CONSTRAINT unique_tag UNIQUE (repository_id, name));
        CREATE TABLE artifact_reference (
            id serial PRIMARY KEY,
            parent_id int NOT NULL REFERENCES artifact (id),
            child_id int NOT NULL REFERENCES artifact (id),
            child_digest varchar(255) NOT NULL,
            CONSTRAINT unique_reference UNIQUE (parent_id, child_id));
        CREATE TABLE artifact_accessory (
            id serial PRIMARY KEY,
            artifact_id bigint,
            subject_artifact_id bigint,
            subject_artifact_digest varchar(1024),
            subject_artifact_repo varchar(1024),
            type varchar(256),
            size bigint,
            digest varchar(1024),
            CONSTRAINT unique_artifact_accessory UNIQUE (artifact_id, subject_artifact_digest));
        CREATE TABLE blob (
            id serial PRIMARY KEY,
            digest varchar(255) NOT NULL UNIQUE,
            content_type varchar(1024) NOT NULL,
            size bigint NOT NULL,
            creation_time timestamp DEFAULT CURRENT_TIMESTAMP,
            update_time timestamp DEFAULT CURRENT_TIMESTAMP,
            status varchar(255) DEFAULT 'none',
            version bigint DEFAULT 0);
        CREATE TABLE artifact_blob (
            id serial PRIMARY KEY,
            digest_af varchar(255) NOT NULL,
            digest_blob varchar(255) NOT NULL,
            CONSTRAINT unique_artifact_blob UNIQUE (digest_af, digest_blob));
        CREATE TABLE artifact_trash (
            id serial PRIMARY KEY,
            media_type varchar(255) NOT NULL,
            manifest_media_type varchar(255) NOT NULL,
            repository_name varchar(255) NOT NULL,
            digest varchar(255) NOT NULL,
            creation_time timestamp DEFAULT CURRENT_TIMESTAMP,
            CONSTRAINT unique_artifact_trash UNIQUE (repository_name, digest));
        CREATE TABLE project_blob (
            id serial PRIMARY KEY,
            project_id int NOT NULL,
            blob_id int NOT NULL,
            CONSTRAINT unique_project_blob UNIQUE (project_id, blob_id));
        """;
}
