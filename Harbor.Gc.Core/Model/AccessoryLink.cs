namespace Harbor.Gc.Model;

/// <summary>Links an accessory (a signature, an SBOM, another referrer) to the artifact it belongs to.</summary>
/// <param name="Repository">The repository of both the accessory and its subject.</param>
/// <param name="Accessory">The accessory's manifest digest.</param>
/// <param name="Subject">
/// The subject's manifest digest. The subject may not exist (yet): an accessory can be pushed first, and the link
/// attaches when the subject arrives.
/// </param>
/// <param name="Type">The accessory type, one of <see cref="AccessoryTypes"/> or a type an embedding registry registers.</param>
/// <param name="Strength">Hard (lives and dies with its subject) or soft (a normal artifact that merely points at it).</param>
/// <param name="FromTagScheme">
/// Whether the link comes from a cosign tag-scheme tag (<c>sha256-&lt;hex&gt;.sig</c>) rather than a <c>subject</c> field.
/// </param>
public sealed record AccessoryLink(RepositoryName Repository, Digest Accessory, Digest Subject, string Type, ReferenceStrength Strength, bool FromTagScheme = false);
