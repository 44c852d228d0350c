using Harbor.Gc.Immutability;
using Harbor.Gc.Retention;
using Harbor.Gc.Storage.LiteDb;
using Microsoft.Extensions.Options;

namespace Harbor.Gc.DependencyInjection;

/// <summary>
/// Validates <see cref="HarborGcOptions"/> at start: every bad value is listed at once, each named by its configuration key
/// (<c>HarborGc:Gc:Workers: must be between 1 and 16, but is 0.</c>), so one failed start shows everything to fix.
/// </summary>
/// <remarks>
/// Checks the values of the store kind chosen (a LiteDB file whose folder exists, or that exists when it may not be created; an
/// existing Distribution root), the GC defaults (<see cref="Collection.GcOptions"/>' own ranges), and the immutable-tag rules
/// (one source at most; the file exists and parses). The store itself is opened later, when first resolved.
/// </remarks>
internal sealed class HarborGcOptionsValidator : IValidateOptions<HarborGcOptions>
{
    private const string Section = HarborGcOptions.SectionName;

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, HarborGcOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>(options.BindingProblems);
        ValidateStore(options.Store, problems);
        foreach (var (property, problem) in options.Gc.FindProblems())
        {
            problems.Add($"{Section}:Gc:{property}: {problem}");
        }

        ValidateImmutability(options.Immutability, problems);
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    private static void ValidateStore(HarborGcStoreOptions store, List<string> problems)
    {
        const string Prefix = Section + ":Store:";
        if (store.S3Blobs is { } s3)
        {
            if (store.Kind is not (HarborGcStoreKind.LiteDb or HarborGcStoreKind.Postgres))
            {
                problems.Add($"{Prefix}S3Blobs: only the LiteDb and Postgres stores keep blob bytes in S3, not the {store.Kind} store.");
            }
            else if (!string.IsNullOrWhiteSpace(store.BlobsPath))
            {
                problems.Add($"{Prefix}BlobsPath: give the blob folder or {Prefix}S3Blobs, not both.");
            }

            problems.AddRange(S3BlobsProblems(s3).Select(p => Prefix + "S3Blobs:" + p));
        }

        switch (store.Kind)
        {
            case HarborGcStoreKind.LiteDb:
                if (!Enum.IsDefined(store.Connection))
                {
                    problems.Add($"{Prefix}Connection: {store.Connection} is not one of {string.Join(", ", Enum.GetNames<LiteDbConnectionMode>())}.");
                }

                if (string.IsNullOrWhiteSpace(store.Path))
                {
                    problems.Add($"{Prefix}Path: required for the LiteDb store (its database file), but is empty.");
                    break;
                }

                var path = System.IO.Path.GetFullPath(store.Path);
                if (File.Exists(path))
                {
                    break;
                }

                if (!store.CreateIfMissing)
                {
                    problems.Add($"{Prefix}Path: '{path}' does not exist, and {Prefix}CreateIfMissing is false.");
                }
                else if (System.IO.Path.GetDirectoryName(path) is { } folder && !Directory.Exists(folder))
                {
                    problems.Add($"{Prefix}Path: the folder '{folder}' of '{path}' does not exist.");
                }

                break;

            case HarborGcStoreKind.Distribution:
                if (string.IsNullOrWhiteSpace(store.Root))
                {
                    problems.Add($"{Prefix}Root: required for the Distribution store (the registry's storage rootdirectory), but is empty.");
                }
                else if (!Directory.Exists(System.IO.Path.Combine(store.Root, "docker", "registry", "v2")))
                {
                    problems.Add($"{Prefix}Root: '{System.IO.Path.GetFullPath(store.Root)}' holds no docker/registry/v2 folder; give the registry's storage rootdirectory.");
                }

                if (store.GracePeriod < TimeSpan.Zero)
                {
                    problems.Add($"{Prefix}GracePeriod: must be 0 or more, but is {store.GracePeriod}.");
                }

                break;

            case HarborGcStoreKind.InMemory:
                break;

            case HarborGcStoreKind.Postgres:
                if (string.IsNullOrWhiteSpace(store.ConnectionString))
                {
                    problems.Add($"{Prefix}ConnectionString: required for the Postgres store (its database), but is empty.");
                }
                else
                {
                    try
                    {
                        _ = new Npgsql.NpgsqlConnectionStringBuilder(store.ConnectionString);
                    }
                    catch (Exception e) when (e is ArgumentException or FormatException)
                    {
                        // the builder's message names the setting, never its value
                        problems.Add($"{Prefix}ConnectionString: not a PostgreSQL connection string ({e.Message}).");
                    }
                }

                if (store.S3Blobs is not null)
                {
                    break;
                }

                if (string.IsNullOrWhiteSpace(store.BlobsPath))
                {
                    problems.Add($"{Prefix}BlobsPath: required for the Postgres store (the blob folder every process of the store shares), but is empty.");
                }
                else if (!store.CreateIfMissing && !Directory.Exists(store.BlobsPath))
                {
                    problems.Add($"{Prefix}BlobsPath: '{System.IO.Path.GetFullPath(store.BlobsPath)}' does not exist, and {Prefix}CreateIfMissing is false.");
                }

                break;

            default:
                problems.Add($"{Prefix}Kind: {store.Kind} is not one of {string.Join(", ", Enum.GetNames<HarborGcStoreKind>())}.");
                break;
        }
    }

    /// <summary>What is wrong with an S3 blob location, each as <c>KEY: problem</c>; never repeats a credential.</summary>
    private static IEnumerable<string> S3BlobsProblems(HarborGcS3BlobsOptions s3)
    {
        if (string.IsNullOrWhiteSpace(s3.Bucket))
        {
            yield return "Bucket: required (the bucket the blob bytes are in), but is empty.";
        }
        else if (!System.Text.RegularExpressions.Regex.IsMatch(s3.Bucket, "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$") || s3.Bucket.Contains("..", StringComparison.Ordinal))
        {
            yield return $"Bucket: '{s3.Bucket}' is not a bucket name (3 to 63 lowercase letters, digits, '.' and '-').";
        }

        if (s3.Prefix.Length > 0 && s3.Prefix.Split('/').Any(segment => segment is "" or "." or ".."))
        {
            yield return $"Prefix: '{s3.Prefix}' is not a key prefix (no leading or trailing '/', no empty, '.' or '..' segment).";
        }

        if (!string.IsNullOrEmpty(s3.Endpoint))
        {
            if (!Uri.TryCreate(s3.Endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.AbsolutePath != "/" || uri.Query.Length > 0)
            {
                yield return "Endpoint: not an S3 server's http:// or https:// address without a path (http://127.0.0.1:9000).";
            }
            else if (uri.UserInfo.Length > 0)
            {
                yield return "Endpoint: credentials never go in the address; the AWS SDK's standard chain finds them (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a role).";
            }
        }

        if (!string.IsNullOrEmpty(s3.Region) && !System.Text.RegularExpressions.Regex.IsMatch(s3.Region, "^[a-z]{2}(-[a-z0-9]+)+$"))
        {
            yield return $"Region: '{s3.Region}' is not a region name such as us-east-1.";
        }
    }

    private static void ValidateImmutability(HarborGcImmutabilityOptions immutability, List<string> problems)
    {
        const string Prefix = Section + ":Immutability:";
        if (immutability.RulesFile is null)
        {
            return;
        }

        if (immutability.Rules is not null)
        {
            problems.Add($"{Prefix}RulesFile: '{immutability.RulesFile}' is set as well as {Prefix}Rules; give one.");
            return;
        }

        try
        {
            _ = ImmutabilityRulesLoader.Load(immutability);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PolicyException)
        {
            problems.Add($"{Prefix}RulesFile: {e.Message}");
        }
    }
}

/// <summary>Reads the immutable-tag rules <see cref="HarborGcImmutabilityOptions"/> names.</summary>
internal static class ImmutabilityRulesLoader
{
    /// <summary>The rules: the typed ones, those of the file, or <see cref="ImmutabilityRules.None"/>.</summary>
    /// <param name="options">The options.</param>
    /// <returns>The rules.</returns>
    /// <exception cref="IOException">The file cannot be read (<see cref="FileNotFoundException"/> when missing).</exception>
    /// <exception cref="PolicyException">The file is not valid rule JSON; every problem is listed.</exception>
    public static ImmutabilityRules Load(HarborGcImmutabilityOptions options)
    {
        if (options.Rules is { } rules)
        {
            return rules;
        }

        if (options.RulesFile is not { } file)
        {
            return ImmutabilityRules.None;
        }

        var path = Path.GetFullPath(file);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"'{path}' does not exist.", path);
        }

        return ImmutableRulesJson.Parse(File.ReadAllText(path), options.Project, path);
    }
}
