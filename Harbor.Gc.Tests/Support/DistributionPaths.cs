using Harbor.Gc.Model;

namespace Harbor.Gc.Tests.Support;

/// <summary>
/// The paths of a CNCF Distribution storage tree under its <c>rootdirectory</c>, as the registry writes them (written out here, not
/// taken from the code under test, so a test checks the layout rather than repeats it).
/// </summary>
internal sealed record DistributionPaths(string Root)
{
    public string V2 => Path.Combine(Root, "docker", "registry", "v2");

    public string Repositories => Path.Combine(V2, "repositories");

    public string Blobs => Path.Combine(V2, "blobs");

    public string Repository(string repository) => Path.Combine(Repositories, repository);

    public string Manifests(string repository) => Path.Combine(Repository(repository), "_manifests");

    public string Revisions(string repository) => Path.Combine(Manifests(repository), "revisions", "sha256");

    public string Revision(string repository, Digest d) => Path.Combine(Revisions(repository), d.Hex);

    public string RevisionLink(string repository, Digest d) => Path.Combine(Revision(repository, d), "link");

    public string Tags(string repository) => Path.Combine(Manifests(repository), "tags");

    public string Tag(string repository, string tag) => Path.Combine(Tags(repository), tag);

    public string TagLink(string repository, string tag) => Path.Combine(Tag(repository, tag), "current", "link");

    public string TagIndex(string repository, string tag) => Path.Combine(Tag(repository, tag), "index");

    public string Layers(string repository) => Path.Combine(Repository(repository), "_layers", "sha256");

    public string Layer(string repository, Digest d) => Path.Combine(Layers(repository), d.Hex);

    public string LayerLink(string repository, Digest d) => Path.Combine(Layer(repository, d), "link");

    public string Uploads(string repository) => Path.Combine(Repository(repository), "_uploads");

    public string Upload(string repository, string id) => Path.Combine(Uploads(repository), id);

    public string BlobFolder(Digest d) => Path.Combine(Blobs, "sha256", d.Hex[..2], d.Hex);

    public string BlobData(Digest d) => Path.Combine(BlobFolder(d), "data");

    public bool HasBlob(Digest d) => File.Exists(BlobData(d));

    public bool HasRevision(string repository, Digest d) => Directory.Exists(Revision(repository, d));

    /// <summary>The blobs a repository links (its <c>_layers/sha256</c> folders that hold a link file).</summary>
    public IReadOnlyList<Digest> LinkedBlobs(string repository) =>
        Directory.Exists(Layers(repository))
            ? Directory.EnumerateDirectories(Layers(repository)).Where(f => File.Exists(Path.Combine(f, "link")))
                .Select(f => Digest.Parse("sha256:" + Path.GetFileName(f))).Order().ToList()
            : [];

    /// <summary>The manifests a repository has revisions of.</summary>
    public IReadOnlyList<Digest> RevisionDigests(string repository) =>
        Directory.Exists(Revisions(repository))
            ? Directory.EnumerateDirectories(Revisions(repository)).Select(f => Digest.Parse("sha256:" + Path.GetFileName(f))).Order().ToList()
            : [];
}
