using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Harbor.Gc.Model;
using Harbor.Gc.Storage.Drivers;

namespace Harbor.Gc.Storage.Distribution;

/// <summary>
/// Unfinished multipart copies in this project's own folder (DESIGN.md, "S3 storage: real runs"): a run killed while it copied an
/// object over 5 GiB into the quarantine in parts (UploadPartCopy) leaves a multipart upload of the quarantine key, which holds the
/// parts copied so far and is nothing the registry or a run ever reads. The snapshot lists each as an upload of no repository, so
/// the time window, the plan, the dry run's report and the re-check before deletion treat it as any stale upload.
/// </summary>
public sealed partial class DistributionRegistryStore
{
    /// <summary>What the id of such an upload starts with (<c>harbor-gc-copy-RUN-HASH</c> or <c>harbor-gc-copy-HASH</c>).</summary>
    private const string CopyUploadPrefix = "harbor-gc-copy-";

    /// <summary>
    /// The unfinished multipart uploads under <c>_harbor-gc/</c> (one ListMultipartUploads, and one ListParts each), as uploads of no
    /// repository: started when the copy began, sized and last written by the parts copied. Each is reported too, naming its key.
    /// </summary>
    private List<BlobUpload> ReadCopyUploads(ConcurrentQueue<StoreProblem> problems)
    {
        var uploads = new List<BlobUpload>();
        if (_driver is not IObjectStorageDriver objects)
        {
            return uploads;
        }

        foreach (var found in objects.ListMultipartUploads(DistributionLayout.Own + "/"))
        {
            var upload = CopyUpload(objects, found);
            uploads.Add(upload);
            problems.Enqueue(Problem(found.Path, string.Create(CultureInfo.InvariantCulture,
                $"an unfinished multipart copy into the quarantine (a run stopped while it moved an object over 5 GiB), started {upload.StartedAt:u}, last written {upload.LastWrittenAt:u}, {upload.Size} bytes in parts: garbage, which a real run aborts as the stale upload '{upload.Id}' once it is older than the time window")));
        }

        return uploads;
    }

    /// <summary>Deletes (aborts) a multipart copy the snapshot listed, if it is still exactly as listed.</summary>
    private UploadDeleteOutcome DeleteCopyUpload(BlobUpload upload)
    {
        if (_driver is not IObjectStorageDriver objects || !upload.Id.StartsWith(CopyUploadPrefix, StringComparison.Ordinal))
        {
            return UploadDeleteOutcome.NotFound; // not one of this layout's uploads
        }

        // looked up again: a copy a live run is still making (a part copied since the plan) has a later last write and is kept. An
        // abort that lands under a live copy anyway (between this look and the abort) fails that run's next part or its completion
        // (NoSuchUpload): its move fails and leaves the source where it was (S3StorageDriver.Move)
        foreach (var found in objects.ListMultipartUploads(DistributionLayout.Own + "/"))
        {
            if (CopyUploadId(found) != upload.Id)
            {
                continue;
            }

            if (CopyUpload(objects, found) != upload)
            {
                return UploadDeleteOutcome.Changed;
            }

            ThrowIfLeaseLost();
            objects.AbortMultipartUpload(found);
            return UploadDeleteOutcome.Deleted;
        }

        return UploadDeleteOutcome.NotFound;
    }

    private static BlobUpload CopyUpload(IObjectStorageDriver objects, StorageMultipartUpload found)
    {
        var (size, last) = objects.ReadMultipartUpload(found);
        return new BlobUpload(null, CopyUploadId(found), found.InitiatedAt.ToUniversalTime(), size, last.ToUniversalTime());
    }

    /// <summary>
    /// A stable id for a multipart upload in the own folder (upload ids are the server's and may hold any character): the run's
    /// quarantine folder name when it is one, and a hash of the key and the server's upload id.
    /// </summary>
    private static string CopyUploadId(StorageMultipartUpload found)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(found.Path + "\n" + found.UploadId)))[..24];
        var inQuarantine = found.Path.StartsWith(DistributionLayout.Quarantine + "/", StringComparison.Ordinal)
            ? found.Path[(DistributionLayout.Quarantine.Length + 1)..].Split('/')[0]
            : string.Empty;
        var id = inQuarantine.Length is > 0 and <= 64 && BlobUpload.ValidateId(inQuarantine) is null
            ? $"{CopyUploadPrefix}{inQuarantine}-{hash}"
            : CopyUploadPrefix + hash;
        return id;
    }
}
