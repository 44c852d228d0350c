using System.Collections.Immutable;
using Harbor.Gc.Diagnostics;
using Harbor.Gc.Model;
using Harbor.Gc.Storage;
using Microsoft.Extensions.Logging;

namespace Harbor.Gc.Registry;

public sealed partial class RegistryApi
{
    private const int DeleteAttempts = 3;

    /// <summary>
    /// Deletes an artifact with the cascade of DESIGN.md §7: refused while an index references it; otherwise deletes it, its hard
    /// accessories (recursively), its children that no other artifact references and that carry no tag, and the tags of all of
    /// these; soft accessories are only detached.
    /// </summary>
    /// <remarks>
    /// The artifact is deleted first, then the rest of the cascade: a crash in between leaves orphan accessories and untagged
    /// children, which GC collects, never an index with a missing child. Each deletion is a compare-and-swap on the version read
    /// when the cascade was planned: a cascade member that a concurrent push or tag changed is kept; when the artifact itself
    /// changed, the cascade is planned again.
    /// </remarks>
    /// <param name="key">The artifact.</param>
    /// <param name="cancellationToken">Cancels before the next deletion.</param>
    /// <returns>What was deleted and what was kept.</returns>
    /// <exception cref="KeyNotFoundException">There is no such artifact.</exception>
    /// <exception cref="ArtifactInUseException">An index in the repository lists the artifact; nothing is deleted.</exception>
    /// <exception cref="ImmutableTagException">
    /// The artifact or a member of its cascade carries an immutable tag, or the artifact is a hard accessory of such an artifact;
    /// nothing is deleted.
    /// </exception>
    /// <exception cref="InvalidOperationException">The artifact kept changing under concurrent writes; nothing is deleted.</exception>
    public async ValueTask<ArtifactDeletion> DeleteArtifactAsync(ArtifactKey key, CancellationToken cancellationToken = default)
    {
        for (var attempt = 1; ; attempt++)
        {
            var plan = await PlanDeletionAsync(key, cancellationToken).ConfigureAwait(false);
            var outcome = await store.DeleteArtifactAsync(key, plan[0].Version, cancellationToken).ConfigureAwait(false);
            if (outcome == ArtifactDeleteOutcome.NotFound)
            {
                throw new KeyNotFoundException($"There is no manifest {key}.");
            }

            if (outcome == ArtifactDeleteOutcome.Changed)
            {
                if (attempt == DeleteAttempts)
                {
                    throw new InvalidOperationException($"Refused to delete {key}: it changed under concurrent pushes {DeleteAttempts} times; retry.");
                }

                continue;
            }

            var deleted = ImmutableArray.CreateBuilder<ArtifactKey>();
            var kept = ImmutableArray.CreateBuilder<ArtifactKey>();
            deleted.Add(key);
            foreach (var member in plan.Skip(1))
            {
                cancellationToken.ThrowIfCancellationRequested();
                var result = await store.DeleteArtifactAsync(member.Key, member.Version, cancellationToken).ConfigureAwait(false);
                (result == ArtifactDeleteOutcome.Changed ? kept : deleted).Add(member.Key);
            }

            Log.ArtifactDeleted(_logger, key, deleted.Count - 1, kept.Count);
            return new ArtifactDeletion(deleted.ToImmutable(), kept.ToImmutable());
        }
    }

    /// <summary>The artifact first, then the rest of its cascade; checks the refusals before anything is deleted.</summary>
    private async ValueTask<List<Artifact>> PlanDeletionAsync(ArtifactKey key, CancellationToken cancellationToken)
    {
        var root = await store.GetArtifactAsync(key, cancellationToken).ConfigureAwait(false) ?? throw new KeyNotFoundException($"There is no manifest {key}.");
        if ((await store.GetParentsAsync(key, cancellationToken).ConfigureAwait(false)).MinBy(p => p.Digest.ToString()) is { } parent)
        {
            throw Refused(new ArtifactInUseException(key, parent.Digest), LogLevel.Information);
        }

        var operation = $"delete {key}";
        await EnsureMutableAsync(key, operation, cancellationToken).ConfigureAwait(false);
        var plan = new List<Artifact> { root };
        var members = new HashSet<ArtifactKey> { key };
        for (var i = 0; i < plan.Count; i++)
        {
            var artifact = plan[i];
            foreach (var link in await store.GetReferrersAsync(artifact.Key, cancellationToken).ConfigureAwait(false))
            {
                var accessory = new ArtifactKey(link.Repository, link.Accessory);
                if (link.Strength == ReferenceStrength.Hard && !members.Contains(accessory) &&
                    await store.GetArtifactAsync(accessory, cancellationToken).ConfigureAwait(false) is { } found)
                {
                    await EnsureNoImmutableUserTagAsync(accessory, operation, cancellationToken).ConfigureAwait(false);
                    members.Add(accessory);
                    plan.Add(found);
                }
            }

            foreach (var digest in artifact.Children.Distinct())
            {
                var child = new ArtifactKey(artifact.Repository, digest);
                if (!members.Contains(child) &&
                    await store.GetArtifactAsync(child, cancellationToken).ConfigureAwait(false) is { } found &&
                    !(await store.ListTagsAsync(child.Repository, cancellationToken).ConfigureAwait(false)).Any(t => t.Digest == digest) &&
                    (await store.GetParentsAsync(child, cancellationToken).ConfigureAwait(false)).All(p => members.Contains(p.Key)))
                {
                    members.Add(child);
                    plan.Add(found);
                }
            }
        }

        return plan;
    }

    /// <summary>Refuses <paramref name="operation"/> when the artifact is immutable: a user tag of it, or of the subject it is a hard accessory of (recursively), matches a rule.</summary>
    private async ValueTask EnsureMutableAsync(ArtifactKey key, string operation, CancellationToken cancellationToken)
    {
        var seen = new HashSet<ArtifactKey>();
        for (ArtifactKey? current = key; current is { } k && seen.Add(k);)
        {
            await EnsureNoImmutableUserTagAsync(k, operation, cancellationToken).ConfigureAwait(false);
            current = await store.GetAccessoryLinkAsync(k, cancellationToken).ConfigureAwait(false) is { Strength: ReferenceStrength.Hard } link
                ? new ArtifactKey(link.Repository, link.Subject)
                : null;
        }
    }

    private async ValueTask EnsureNoImmutableUserTagAsync(ArtifactKey key, string operation, CancellationToken cancellationToken)
    {
        if (immutability is null)
        {
            return;
        }

        foreach (var tag in await store.ListTagsAsync(key.Repository, cancellationToken).ConfigureAwait(false))
        {
            if (tag.Digest == key.Digest && await TagSchemeLinkAsync(tag, cancellationToken).ConfigureAwait(false) is null &&
                immutability.FindRule(key.Repository, tag.Name) is { } rule)
            {
                throw Refused(new ImmutableTagException(operation, key.Repository, tag.Name, rule));
            }
        }
    }
}
