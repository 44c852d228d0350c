using System.Collections.Immutable;
using Harbor.Gc.Model;
using LiteDB;

namespace Harbor.Gc.Storage.LiteDb;

/// <summary>
/// The documents of <see cref="LiteDbRegistryStore"/>: collection and field names, and the mapping between records and BSON.
/// Written by hand (no reflection mapper): the layout is the store's on-disk format.
/// </summary>
/// <remarks>
/// <para>Times are UTC ticks (<see cref="long"/>), exact to 100 ns, so a compare-and-swap on <see cref="Blob.LastTouchedAt"/>
/// compares what was stored. Digests and repository names are their text forms, parsed again on read.</para>
/// <para>Keys: a blob by its digest; an artifact, an accessory link and a layer link by <c>repository@digest</c>; a tag by
/// <c>repository:name</c> (neither a repository name nor a tag can hold the separator they are joined by).</para>
/// </remarks>
internal static class LiteDbDocuments
{
    public const int SchemaVersion = 1;

    public const string Blobs = "blobs";
    public const string Artifacts = "artifacts";
    public const string Tags = "tags";
    public const string AccessoryLinks = "accessory_links";
    public const string LayerLinks = "layer_links";
    public const string Meta = "meta";

    // meta documents
    public const string SchemaKey = "schema";
    public const string VersionKey = "version";
    public const string StoreIdKey = "storeId";

    // fields (a field used by an index has a named constant; the index has the same name)
    public const string RepositoryField = "repo";
    public const string DigestField = "digest";
    public const string Status = "status";
    public const string UpdatedAt = "updatedAt";
    public const string PulledAt = "pulledAt";

    /// <summary>An artifact's first push time; absent from documents written before it was kept (still schema version 1).</summary>
    public const string FirstPushedAt = "firstPushedAt";
    public const string Version = "version";
    public const string Value = "value";

    /// <summary>Artifacts by referenced blob digest (multi-key: one entry per reference): "is this blob referenced".</summary>
    public const string ReferencesIndex = "refs";

    /// <summary>Artifacts by listed child digest (multi-key): "which indexes list this manifest".</summary>
    public const string ChildrenIndex = "children";

    /// <summary>Tags and accessory links by artifact key: the tags of an artifact, the referrers of a subject.</summary>
    public const string ArtifactKeyField = "artifact";

    public const string SubjectKeyField = "subjectKey";

    public const string ReferencesExpression = "$.refs[*].d";
    public const string ChildrenExpression = "$.children[*]";

    public static string Key(ArtifactKey key) => key.ToString();

    public static string Key(RepositoryName repository, Digest digest) => new ArtifactKey(repository, digest).ToString();

    public static string TagKey(RepositoryName repository, string name) => $"{repository}:{name}";

    public static long Ticks(DateTimeOffset at) => at.UtcTicks;

    public static DateTimeOffset Time(BsonValue ticks) => new(ticks.AsInt64, TimeSpan.Zero);

    public static DateTimeOffset? OptionalTime(BsonValue ticks) => ticks.IsNull ? null : Time(ticks);

    public static BsonValue Optional(string? text) => text is null ? BsonValue.Null : new BsonValue(text);

    public static BsonValue Optional(DateTimeOffset? at) => at is { } t ? new BsonValue(Ticks(t)) : BsonValue.Null;

    public static string? OptionalString(BsonValue value) => value.IsNull ? null : value.AsString;

    // ---- blobs ---------------------------------------------------------------------------------------------------

    public static BsonDocument ToDocument(Blob blob) => new()
    {
        ["_id"] = blob.Digest.ToString(),
        ["size"] = blob.Size,
        ["mediaType"] = Optional(blob.MediaType),
        ["createdAt"] = Ticks(blob.CreatedAt),
        [UpdatedAt] = Ticks(blob.UpdatedAt),
        [Status] = (int)blob.Status,
    };

    public static Blob ToBlob(BsonDocument doc) => new(
        Digest.Parse(doc["_id"].AsString),
        doc["size"].AsInt64,
        OptionalString(doc["mediaType"]),
        Time(doc["createdAt"]),
        Time(doc[UpdatedAt]),
        (BlobStatus)doc[Status].AsInt32);

    // ---- artifacts -----------------------------------------------------------------------------------------------

    public static BsonDocument ToDocument(Artifact artifact)
    {
        var references = new BsonArray();
        foreach (var r in artifact.References)
        {
            var reference = new BsonDocument { ["d"] = r.Digest.ToString(), ["s"] = r.Size, ["k"] = (int)r.Kind };
            if (r.MediaType is not null)
            {
                reference["m"] = r.MediaType;
            }

            if (r.IsForeign)
            {
                reference["f"] = true;
            }

            references.Add(reference);
        }

        return new BsonDocument
        {
            ["_id"] = Key(artifact.Key),
            [RepositoryField] = artifact.Repository.Value,
            [DigestField] = artifact.Digest.ToString(),
            ["mediaType"] = artifact.MediaType,
            ["kind"] = (int)artifact.Kind,
            ["artifactType"] = Optional(artifact.ArtifactType),
            ["size"] = artifact.Size,
            ["pushedAt"] = Ticks(artifact.PushedAt),
            [FirstPushedAt] = Optional(artifact.FirstPushedAt),
            [PulledAt] = Optional(artifact.PulledAt),
            ["labels"] = new BsonArray(artifact.Labels.Select(l => new BsonValue(l))),
            ["refs"] = references,
            ["children"] = new BsonArray(artifact.Children.Select(c => new BsonValue(c.ToString()))),
            ["subject"] = artifact.Subject is { } s ? s.ToString() : BsonValue.Null,
            ["parseProblem"] = Optional(artifact.ParseProblem),
            [Version] = artifact.Version,
        };
    }

    /// <summary>
    /// An artifact document's first push time: the field when present, else (a document written before the field existed, which
    /// schema version 1 still reads) its push time, the best known.
    /// </summary>
    public static DateTimeOffset ToFirstPushedAt(BsonDocument doc) =>
        doc.TryGetValue(FirstPushedAt, out var first) && !first.IsNull ? Time(first) : Time(doc["pushedAt"]);

    public static Artifact ToArtifact(BsonDocument doc, RepositoryNames names)
    {
        var refs = doc["refs"].AsArray;
        var references = ImmutableArray.CreateBuilder<BlobReference>(refs.Count);
        foreach (var value in refs)
        {
            var r = value.AsDocument;
            references.Add(new BlobReference(Digest.Parse(r["d"].AsString), r["s"].AsInt64, r.TryGetValue("m", out var m) ? OptionalString(m) : null, (BlobReferenceKind)r["k"].AsInt32, r.TryGetValue("f", out var f) && f.AsBoolean));
        }

        var subject = doc["subject"];
        return new Artifact
        {
            Repository = names.Get(doc[RepositoryField].AsString),
            Digest = Digest.Parse(doc[DigestField].AsString),
            MediaType = doc["mediaType"].AsString,
            Kind = (ManifestKind)doc["kind"].AsInt32,
            ArtifactType = OptionalString(doc["artifactType"]),
            Size = doc["size"].AsInt64,
            PushedAt = Time(doc["pushedAt"]),
            FirstPushedAt = doc.TryGetValue(FirstPushedAt, out var first) ? OptionalTime(first) : null,
            PulledAt = OptionalTime(doc[PulledAt]),
            Labels = [.. doc["labels"].AsArray.Select(l => l.AsString)],
            References = references.MoveToImmutable(),
            Children = [.. doc["children"].AsArray.Select(c => Digest.Parse(c.AsString))],
            Subject = subject.IsNull ? null : Digest.Parse(subject.AsString),
            ParseProblem = OptionalString(doc["parseProblem"]),
            Version = doc[Version].AsInt64,
        };
    }

    // ---- tags ----------------------------------------------------------------------------------------------------

    public static BsonDocument ToDocument(Tag tag) => new()
    {
        ["_id"] = TagKey(tag.Repository, tag.Name),
        [RepositoryField] = tag.Repository.Value,
        ["name"] = tag.Name,
        [DigestField] = tag.Digest.ToString(),
        [ArtifactKeyField] = Key(tag.Repository, tag.Digest),
        ["pushedAt"] = Ticks(tag.PushedAt),
        [PulledAt] = Optional(tag.PulledAt),
    };

    public static Tag ToTag(BsonDocument doc, RepositoryNames names) => new(
        names.Get(doc[RepositoryField].AsString),
        doc["name"].AsString,
        Digest.Parse(doc[DigestField].AsString),
        Time(doc["pushedAt"]),
        OptionalTime(doc[PulledAt]));

    // ---- accessory links -----------------------------------------------------------------------------------------

    public static BsonDocument ToDocument(AccessoryLink link) => new()
    {
        ["_id"] = Key(link.Repository, link.Accessory),
        [RepositoryField] = link.Repository.Value,
        ["accessory"] = link.Accessory.ToString(),
        ["subject"] = link.Subject.ToString(),
        [SubjectKeyField] = Key(link.Repository, link.Subject),
        ["type"] = link.Type,
        ["strength"] = (int)link.Strength,
        ["tagScheme"] = link.FromTagScheme,
    };

    public static AccessoryLink ToAccessoryLink(BsonDocument doc, RepositoryNames names) => new(
        names.Get(doc[RepositoryField].AsString),
        Digest.Parse(doc["accessory"].AsString),
        Digest.Parse(doc["subject"].AsString),
        doc["type"].AsString,
        (ReferenceStrength)doc["strength"].AsInt32,
        doc["tagScheme"].AsBoolean);

    // ---- layer links ---------------------------------------------------------------------------------------------

    public static BsonDocument ToDocument(LayerLink link) => new()
    {
        ["_id"] = Key(link.Repository, link.Digest),
        [RepositoryField] = link.Repository.Value,
        [DigestField] = link.Digest.ToString(),
        ["createdAt"] = Ticks(link.CreatedAt),
    };

    public static LayerLink ToLayerLink(BsonDocument doc, RepositoryNames names) => new(
        names.Get(doc[RepositoryField].AsString), Digest.Parse(doc[DigestField].AsString), Time(doc["createdAt"]));

    /// <summary>Parses repository names once per distinct text (a snapshot meets each name many times).</summary>
    internal sealed class RepositoryNames
    {
        private readonly Dictionary<string, RepositoryName> _names = new(StringComparer.Ordinal);

        public RepositoryName Get(string text)
        {
            if (!_names.TryGetValue(text, out var name))
            {
                name = RepositoryName.Parse(text);
                _names.Add(text, name);
            }

            return name;
        }
    }
}
