using Harbor.Gc.Storage.Blobs;

namespace Harbor.Gc.Runner.Commands;

/// <summary>
/// The blob location of the embedded stores (issue 17): <c>blobs=s3://BUCKET[/PREFIX]</c> with <c>endpoint=URL</c> and <c>region=REGION</c>
/// beside it, in <c>litedb:PATH?…</c> and <c>postgres:postgresql://…?…</c>. Credentials never go in it: the AWS SDK's standard chain
/// finds them; a user or password in an address, or a key setting, is refused without being repeated.
/// </summary>
internal static class S3BlobsSpec
{
    /// <summary>The <c>litedb:</c> form with its blobs in S3, for messages.</summary>
    public const string LiteDbForm = "litedb:PATH?blobs=s3://BUCKET/PREFIX&endpoint=URL&region=REGION";

    /// <summary>The <c>postgres:</c> form with its blobs in S3, for messages.</summary>
    public const string PostgresForm = "postgres:postgresql://USER@HOST[:PORT]/DATABASE?blobs=s3://BUCKET/PREFIX&endpoint=URL&region=REGION";

    private const string UseTheChain =
        "credentials never go in the address; the AWS SDK's standard chain finds them (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a role)";

    /// <summary>Whether a <c>blobs=</c> value names a bucket.</summary>
    public static bool IsS3(string blobs) => S3StoreSpec.IsS3(blobs);

    /// <summary>
    /// Takes the S3 settings (<c>endpoint=</c>, <c>region=</c>) out of a query (the text after <c>?</c>), refusing any credential setting.
    /// </summary>
    /// <param name="query">The settings.</param>
    /// <param name="shown">The <c>--store</c> value for messages, already redacted.</param>
    /// <param name="keep">A credential setting the caller refuses itself, with its own message (<c>password</c> of a PostgreSQL address).</param>
    /// <returns>The query without them, and them (each <c>name=value</c>, escaped as given, joined by <c>&amp;</c>).</returns>
    public static (string Others, string S3Settings) Split(string query, string shown, string? keep = null)
    {
        var rest = new List<string>();
        var s3 = new List<string>();
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var name = Uri.UnescapeDataString(equals < 0 ? pair : pair[..equals]).ToLowerInvariant();
            if (name != keep && S3StoreSpec.CredentialSettings.Contains(name))
            {
                throw new UsageException($"--store {shown}: {UseTheChain}.");
            }

            (name is "endpoint" or "region" ? s3 : rest).Add(pair);
        }

        return (string.Join('&', rest), string.Join('&', s3));
    }

    /// <summary>The S3 blob location <paramref name="blobs"/> (<c>s3://BUCKET/PREFIX</c>) and its settings name.</summary>
    /// <exception cref="UsageException">It is not a valid location; the message never repeats a credential.</exception>
    public static S3BlobStoreOptions Parse(string blobs, string s3Settings, string shown, string form)
    {
        if (blobs.Contains('@', StringComparison.Ordinal))
        {
            throw new UsageException($"--store {shown}: {UseTheChain}.");
        }

        var address = s3Settings.Length == 0 ? blobs : blobs + (blobs.Contains('?', StringComparison.Ordinal) ? "&" : "?") + s3Settings;
        var parsed = S3StoreSpec.ParseBucket(address, shown, form, blobs: true);
        return new S3BlobStoreOptions { Bucket = parsed.Bucket, Prefix = parsed.RootPrefix, Endpoint = parsed.Endpoint, Region = parsed.Region };
    }

    /// <summary>The <c>--store</c> value as messages show it: no user, password or secret setting.</summary>
    public static string Redacted(string spec) => S3StoreSpec.Redacted(spec);
}
