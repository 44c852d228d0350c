namespace Harbor.Gc.Tests.Support;

internal static class GcInvariants
{
    /// <summary>DESIGN.md §5: for every crash point, no remaining artifact references a blob whose bytes (or record) are gone.</summary>
    public static void AssertNoArtifactLostABlob(TestStore store, string because)
    {
        foreach (var artifact in store.GetArtifacts())
        {
            foreach (var reference in artifact.References.Where(r => !r.IsForeign))
            {
                store.HasBlobContent(reference.Digest).Should().BeTrue($"{artifact.Key} references {reference.Digest}: {because}");
                store.GetBlob(reference.Digest).Should().NotBeNull($"{artifact.Key} references {reference.Digest}: {because}");
            }
        }
    }
}
