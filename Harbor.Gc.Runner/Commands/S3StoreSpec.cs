using System.Globalization;
using System.Text.RegularExpressions;
using Amazon.Runtime;
using Harbor.Gc.Storage.Distribution;
using Harbor.Gc.Storage.Drivers;

namespace Harbor.Gc.Runner.Commands;

/// <summary>
/// <c>distribution:s3://BUCKET[/ROOT][?endpoint=URL&amp;region=REGION&amp;parallelism=N&amp;lease=DURATION&amp;cache=DIR]</c>: a Distribution registry's storage in
/// an S3 bucket (issue 17), ROOT being its <c>rootdirectory</c> (the key prefix holding <c>docker/registry/v2</c>). Credentials never go
/// in the address: the AWS SDK's standard chain finds them (<c>AWS_ACCESS_KEY_ID</c>/<c>AWS_SECRET_ACCESS_KEY</c>, <c>AWS_PROFILE</c>
/// and the shared files, web identity, container and instance roles); an address with a user, a password or a key setting is refused.
/// </summary>
internal static partial class S3StoreSpec
{
    /// <summary>The form, for messages.</summary>
    public const string Form = "distribution:s3://BUCKET/ROOT?endpoint=URL&region=REGION";

    internal static readonly string[] CredentialSettings =
        ["accesskey", "access_key", "secretkey", "secret_key", "aws_access_key_id", "aws_secret_access_key", "sessiontoken", "session_token", "password", "secret", "key"];

    /// <summary>
    /// Opens the Distribution store in the bucket <paramref name="location"/> names, after one listing of its layout root (which
    /// checks the bucket, the credentials and that the layout is there); bad input and the server's refusal are a <see cref="UsageException"/>.
    /// A real run on it takes a lease on the bucket (DESIGN.md, "S3 storage: real runs").
    /// </summary>
    public static DistributionRegistryStore Open(string location, TimeProvider time, TimeSpan? gracePeriod)
    {
        var parsed = Parse(location);
        var options = new S3StorageOptions
        {
            Bucket = parsed.Bucket, RootPrefix = parsed.RootPrefix, Endpoint = parsed.Endpoint, Region = parsed.Region, Parallelism = parsed.Parallelism, TimeProvider = time,
            LeaseDuration = parsed.LeaseDuration,
        };
        var shown = "distribution:" + Redacted(location);
        ManifestCache? cache = null;
        if (parsed.ManifestCacheFolder is { } folder)
        {
            try
            {
                cache = ManifestCache.Open(folder);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"--store {shown}: cache= takes a folder for the manifests read from the bucket (made when missing): {e.Message}");
            }
        }

        S3StorageDriver driver;
        try
        {
            driver = new S3StorageDriver(options);
        }
        catch
        {
            cache?.Dispose();
            throw;
        }

        try
        {
            if (driver.List(string.Empty) is null)
            {
                throw new UsageException($"--store {shown}: s3://{options.Bucket}/{options.RootPrefix} holds nothing; give the registry's rootdirectory (the prefix holding docker/registry/v2).");
            }

            var root = options.RootPrefix[..^"docker/registry/v2".Length].TrimEnd('/');
            return new DistributionRegistryStore(driver, root.Length == 0 ? $"s3://{options.Bucket}" : $"s3://{options.Bucket}/{root}", time, options.Parallelism, ownsDriver: true)
            {
                GracePeriod = gracePeriod ?? DistributionRegistryStore.DefaultGracePeriod,
                ManifestCache = cache,
            };
        }
        catch (AmazonServiceException e)
        {
            driver.Dispose();
            cache?.Dispose();
            throw new UsageException($"--store {shown}: the S3 server refused to list the bucket: {e.ErrorCode} (HTTP {(int)e.StatusCode}): {e.Message}");
        }
        catch (AmazonClientException e)
        {
            driver.Dispose();
            cache?.Dispose();
            throw new UsageException($"--store {shown}: {e.Message}");
        }
        catch
        {
            driver.Dispose();
            cache?.Dispose();
            throw;
        }
    }

    /// <summary>Whether a <c>distribution:</c> location names a bucket.</summary>
    public static bool IsS3(string location) => location.StartsWith("s3://", StringComparison.OrdinalIgnoreCase);

    /// <summary>The driver options <paramref name="location"/> (the text after <c>distribution:</c>) names, its root being ROOT's <c>docker/registry/v2</c>.</summary>
    /// <exception cref="UsageException">It is not a valid address; the message never repeats a credential.</exception>
    public static S3StorageOptions Parse(string location)
    {
        var parsed = ParseBucket(location, "distribution:" + Redacted(location), Form, blobs: false);
        return new S3StorageOptions
        {
            Bucket = parsed.Bucket,
            RootPrefix = StoragePaths.Join(parsed.RootPrefix, "docker/registry/v2"),
            Endpoint = parsed.Endpoint,
            Region = parsed.Region,
            Parallelism = parsed.Parallelism,
            LeaseDuration = parsed.LeaseDuration,
            ManifestCacheFolder = parsed.ManifestCacheFolder,
        };
    }

    /// <summary>
    /// The bucket, key prefix and settings of <c>s3://BUCKET[/PREFIX][?SETTINGS]</c>: <c>endpoint=</c> and <c>region=</c>, and for a
    /// Distribution store (not <paramref name="blobs"/>) <c>parallelism=</c>, <c>lease=</c> and <c>cache=</c>; the prefix as given.
    /// </summary>
    /// <param name="location">The address.</param>
    /// <param name="shown">The <c>--store</c> value for messages, already redacted.</param>
    /// <param name="form">The form, for messages.</param>
    /// <param name="blobs">An embedded store's blob location (which takes no parallelism or lease).</param>
    /// <exception cref="UsageException">It is not a valid address; the message never repeats a credential.</exception>
    internal static S3StorageOptions ParseBucket(string location, string shown, string form, bool blobs)
    {
        if (!IsS3(location))
        {
            throw new UsageException($"--store {shown}: give {form}.");
        }

        var rest = location["s3://".Length..];
        var question = rest.IndexOf('?', StringComparison.Ordinal);
        var query = question < 0 ? string.Empty : rest[(question + 1)..];
        var path = question < 0 ? rest : rest[..question];
        if (path.Contains('@', StringComparison.Ordinal))
        {
            throw new UsageException($"--store {shown}: credentials never go in the address; the AWS SDK's standard chain finds them (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a role).");
        }

        var slash = path.IndexOf('/', StringComparison.Ordinal);
        var bucket = slash < 0 ? path : path[..slash];
        var root = slash < 0 ? string.Empty : path[(slash + 1)..].TrimEnd('/');
        if (!BucketName().IsMatch(bucket) || bucket.Contains("..", StringComparison.Ordinal))
        {
            throw new UsageException($"--store {shown}: '{bucket}' is not a bucket name (3 to 63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit); give {form}.");
        }

        try
        {
            StoragePaths.Validate(root);
        }
        catch (ArgumentException)
        {
            throw new UsageException(blobs
                ? $"--store {shown}: the prefix '{root}' is not a key prefix (a segment is empty, '.' or '..'); give the blobs' prefix below the bucket, as in {form}."
                : $"--store {shown}: the root '{root}' is not a key prefix (a segment is empty, '.' or '..'); give the registry's rootdirectory below the bucket, as in {form}.");
        }

        Uri? endpoint = null;
        string? region = null;
        var parallelism = 16;
        var lease = TimeSpan.FromMinutes(1);
        string? cache = null;
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var name = Uri.UnescapeDataString(equals < 0 ? pair : pair[..equals]);
            var value = Uri.UnescapeDataString(equals < 0 ? string.Empty : pair[(equals + 1)..]);
            switch (name.ToLowerInvariant())
            {
                case "endpoint" when value.Contains('@', StringComparison.Ordinal):
                    throw new UsageException($"--store {shown}: credentials never go in the address; the AWS SDK's standard chain finds them (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a role).");
                case "endpoint":
                    if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.UserInfo.Length > 0
                        || uri.AbsolutePath != "/" || uri.Query.Length > 0)
                    {
                        throw new UsageException($"--store {shown}: endpoint= takes an S3 server's http:// or https:// address without a path or credentials (http://127.0.0.1:9000).");
                    }

                    endpoint = uri;
                    break;
                case "region":
                    if (!RegionName().IsMatch(value))
                    {
                        throw new UsageException($"--store {shown}: region= takes a region name such as us-east-1.");
                    }

                    region = value;
                    break;
                case "parallelism" or "lease" or "cache" when blobs:
                    throw new UsageException($"--store {shown}: unknown setting '{name}'; {form} takes endpoint= and region=.");
                case "parallelism":
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out parallelism) || parallelism is < 1 or > 256)
                    {
                        throw new UsageException($"--store {shown}: parallelism= takes the number of S3 requests at once, 1 to 256.");
                    }

                    break;
                case "lease":
                    if (!Duration.TryParse(value, out lease) || lease < TimeSpan.FromSeconds(3) || lease > TimeSpan.FromHours(1))
                    {
                        throw new UsageException($"--store {shown}: lease= takes how long a real run's lease on the bucket lasts unrenewed, 3s to 1h (60s by default).");
                    }

                    break;
                case "cache":
                    if (value.Length == 0 || value.Contains('\0', StringComparison.Ordinal))
                    {
                        throw new UsageException($"--store {shown}: cache= takes a local folder for the manifests read from the bucket (made when missing).");
                    }

                    cache = value;
                    break;
                case var credential when CredentialSettings.Contains(credential):
                    throw new UsageException($"--store {shown}: credentials never go in the address; the AWS SDK's standard chain finds them (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a role).");
                default:
                    throw new UsageException(blobs
                        ? $"--store {shown}: unknown setting '{name}'; {form} takes endpoint= and region=."
                        : $"--store {shown}: unknown setting '{name}'; {form} takes endpoint=, region=, parallelism=, lease= and cache=.");
            }
        }

        return new S3StorageOptions
        {
            Bucket = bucket,
            RootPrefix = root,
            Endpoint = endpoint,
            Region = region,
            Parallelism = parallelism,
            LeaseDuration = lease,
            ManifestCacheFolder = cache,
        };
    }

    /// <summary>The address with every setting's value but endpoint, region, parallelism, lease, cache and blobs hidden, and every user and password (<c>//…@</c>) too.</summary>
    internal static string Redacted(string location)
    {
        var text = UserInfo().Replace(location, "//***@");
        return SecretSetting().Replace(text, m => m.Groups[1].Value + "=***");
    }

    [GeneratedRegex("//[^/@?]*@")]
    private static partial Regex UserInfo();

    [GeneratedRegex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    private static partial Regex BucketName();

    [GeneratedRegex("^[a-z]{2}(-[a-z0-9]+)+$")]
    private static partial Regex RegionName();

    [GeneratedRegex("([?&](?!endpoint=|region=|parallelism=|lease=|cache=|blobs=)[^=&]+)=[^&]*", RegexOptions.IgnoreCase)]
    private static partial Regex SecretSetting();
}
