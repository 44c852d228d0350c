using Harbor.Gc.Model;
using Harbor.Gc.Storage;

namespace Harbor.Gc.Benchmarks;

/// <summary>Every record of a snapshot, kept in lists: a generated registry or storage tree about to be copied into a database.</summary>
/// <param name="what">What is read, for the message when it has a problem (a generated one never should).</param>
internal sealed class CollectingSink(string what) : ISnapshotSink
{
    public List<Blob> Blobs { get; } = [];

    public List<Artifact> Artifacts { get; } = [];

    public List<Tag> Tags { get; } = [];

    public List<AccessoryLink> Links { get; } = [];

    public List<LayerLink> LayerLinks { get; } = [];

    public void OnBegin(SnapshotSizeHint hint)
    {
    }

    public void OnBlob(Blob blob) => Blobs.Add(blob);

    public void OnArtifact(Artifact artifact) => Artifacts.Add(artifact);

    public void OnTag(Tag tag) => Tags.Add(tag);

    public void OnAccessoryLink(AccessoryLink link) => Links.Add(link);

    public void OnLayerLink(LayerLink link) => LayerLinks.Add(link);

    public void OnProblem(StoreProblem problem) => throw new InvalidDataException($"{what} has a problem: {problem}");
}
