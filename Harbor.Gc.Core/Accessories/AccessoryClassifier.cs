using System.Collections.Immutable;
using Harbor.Gc.Manifests;
using Harbor.Gc.Model;

namespace Harbor.Gc.Accessories;

/// <summary>Decides whether a pushed manifest is an accessory of another artifact, of which type, and how strongly bound (DESIGN.md §4).</summary>
/// <remarks>
/// <para>By <c>subject</c> (OCI 1.1 referrers): the artifact type (the <c>artifactType</c> field, else the config media type)
/// picks the accessory type: cosign signature or sigstore bundle → <c>signature.cosign</c>; notation → <c>signature.notation</c>;
/// Harbor SBOM → <c>sbom.harbor</c>; an image whose layers carry the nydus bootstrap annotation → <c>accelerator.nydus</c>;
/// anything else → <c>subject.accessory</c>. All are hard, as Harbor ships them, unless a registry registered the type as soft.</para>
/// <para>By cosign's tag scheme: a tag <c>sha256-&lt;hex&gt;.sig</c> on a manifest with a simple-signing layer is a signature of
/// <c>sha256:&lt;hex&gt;</c>; <c>.att</c> is an attestation and <c>.sbom</c> an SBOM. Such a tag is the accessory's name, not a
/// user's tag: it never makes the accessory "tagged" for GC or retention. A <c>.sig</c> tag on a manifest without the
/// simple-signing layer is not cosign's, and stays an ordinary tag.</para>
/// <para>A hard accessory lives and dies with its subject; a soft one is an ordinary artifact that points at its subject.</para>
/// </remarks>
public sealed class AccessoryClassifier
{
    private readonly ImmutableDictionary<string, (string Type, ReferenceStrength Strength)> _byArtifactType;

    private AccessoryClassifier(ImmutableDictionary<string, (string, ReferenceStrength)> byArtifactType) => _byArtifactType = byArtifactType;

    /// <summary>Harbor's accessory types, all hard.</summary>
    public static AccessoryClassifier Default { get; } = new(ImmutableDictionary<string, (string, ReferenceStrength)>.Empty
        .Add(MediaTypes.CosignSignatureArtifact, (AccessoryTypes.CosignSignature, ReferenceStrength.Hard))
        .Add(MediaTypes.SigstoreBundle, (AccessoryTypes.CosignSignature, ReferenceStrength.Hard))
        .Add(MediaTypes.NotationSignature, (AccessoryTypes.NotationSignature, ReferenceStrength.Hard))
        .Add(MediaTypes.HarborSbom, (AccessoryTypes.HarborSbom, ReferenceStrength.Hard)));

    /// <summary>A classifier that also maps <paramref name="artifactType"/> (by <c>subject</c>) to an accessory type of the given strength.</summary>
    /// <param name="artifactType">The artifact type (or config media type) to recognise.</param>
    /// <param name="accessoryType">The accessory type to record.</param>
    /// <param name="strength">Hard or soft.</param>
    /// <returns>The new classifier; this one is unchanged.</returns>
    public AccessoryClassifier With(string artifactType, string accessoryType, ReferenceStrength strength)
    {
        ArgumentException.ThrowIfNullOrEmpty(artifactType);
        ArgumentException.ThrowIfNullOrEmpty(accessoryType);
        return new AccessoryClassifier(_byArtifactType.SetItem(artifactType, (accessoryType, strength)));
    }

    /// <summary>Classifies a manifest by its <c>subject</c> field.</summary>
    /// <param name="artifact">The artifact.</param>
    /// <param name="parsed">Its parsed manifest, when it parsed (a nydus image is recognised from it).</param>
    /// <returns>The link, or <see langword="null"/> when the manifest has no subject.</returns>
    public AccessoryLink? ClassifyBySubject(Artifact artifact, ParsedManifest? parsed)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        if (artifact.Subject is not { } subject)
        {
            return null;
        }

        var (type, strength) =
            artifact.ArtifactType is { } at && _byArtifactType.TryGetValue(at, out var registered) ? registered
            : parsed is { HasNydusBootstrapLayer: true } ? (AccessoryTypes.NydusAccelerator, ReferenceStrength.Hard)
            : (AccessoryTypes.SubjectAccessory, ReferenceStrength.Hard);
        return new AccessoryLink(artifact.Repository, artifact.Digest, subject, type, strength);
    }

    /// <summary>Classifies a manifest by a cosign tag-scheme tag pointing at it.</summary>
    /// <param name="artifact">The tagged artifact.</param>
    /// <param name="tag">The tag.</param>
    /// <returns>The link, or <see langword="null"/> when the tag is not a cosign tag-scheme tag of this artifact.</returns>
    public static AccessoryLink? ClassifyByTag(Artifact artifact, string tag)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        if (!TryParseTagScheme(tag, out var subject, out var type))
        {
            return null;
        }

        if (type == AccessoryTypes.CosignSignature && !artifact.References.Any(r => r.Kind == BlobReferenceKind.Layer && r.MediaType == MediaTypes.CosignSimpleSigning))
        {
            return null;
        }

        return new AccessoryLink(artifact.Repository, artifact.Digest, subject, type, ReferenceStrength.Hard, FromTagScheme: true);
    }

    /// <summary>Parses cosign's tag scheme: <c>sha256-&lt;64 lowercase hex&gt;</c> followed by <c>.sig</c>, <c>.att</c> or <c>.sbom</c>.</summary>
    /// <param name="tag">The tag.</param>
    /// <param name="subject">The subject digest.</param>
    /// <param name="accessoryType">The accessory type the suffix names.</param>
    /// <returns>Whether the tag follows the scheme.</returns>
    public static bool TryParseTagScheme(string? tag, out Digest subject, out string accessoryType)
    {
        subject = default;
        accessoryType = string.Empty;
        if (tag is null || !tag.StartsWith("sha256-", StringComparison.Ordinal) || tag.Length < 7 + 64 + 4)
        {
            return false;
        }

        var suffix = tag.AsSpan(7 + 64);
        accessoryType = suffix switch
        {
            ".sig" => AccessoryTypes.CosignSignature,
            ".att" => AccessoryTypes.CosignAttestation,
            ".sbom" => AccessoryTypes.CosignSbom,
            _ => string.Empty,
        };
        if (accessoryType.Length == 0 || !Digest.TryParse(string.Concat("sha256:", tag.AsSpan(7, 64)), out subject))
        {
            accessoryType = string.Empty;
            return false;
        }

        return true;
    }

    /// <summary>Whether <paramref name="tag"/> follows cosign's tag scheme.</summary>
    /// <param name="tag">The tag.</param>
    /// <returns>Whether it does.</returns>
    public static bool IsTagSchemeTag(string? tag) => TryParseTagScheme(tag, out _, out _);
}
