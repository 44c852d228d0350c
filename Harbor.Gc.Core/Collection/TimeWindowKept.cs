namespace Harbor.Gc.Collection;

/// <summary>
/// When a plan deletes no artifact and no blob: what its time window alone kept, the artifacts and blobs a plan with a window of 0
/// (at the same instant, on the same snapshot) would delete.
/// </summary>
/// <param name="Artifacts">Artifacts the window kept.</param>
/// <param name="Blobs">Blobs the window kept.</param>
public sealed record TimeWindowKept(int Artifacts, int Blobs);
