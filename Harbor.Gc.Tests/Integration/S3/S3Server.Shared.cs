namespace Harbor.Gc.Tests.Integration.S3;

/// <summary>
/// The test run's side of <see cref="S3Server"/>: one shared server started by the first test that asks, a missing Swift turned
/// into an ignored test (or a failure when <see cref="RequireVariable"/> is 1), and the shared server stopped when the run ends.
/// The rest of the class (starting, stopping, clients) has no NUnit in it, so the benchmarks compile it too.
/// </summary>
internal sealed partial class S3Server
{
    /// <summary>The variable that makes a missing Swift a failure instead of a skip (<c>.ci/run</c> sets it).</summary>
    public const string RequireVariable = "HARBOR_GC_REQUIRE_S3";

    private static readonly Lock Gate = new();
    private static S3Server? _shared;
    private static Exception? _sharedFailure;

    static S3Server() => AppDomain.CurrentDomain.ProcessExit += (_, _) => StopShared();

    /// <summary>The run's server, started on first use; ignores or fails the test when Swift is not installed.</summary>
    public static S3Server Shared
    {
        get
        {
            RequirePackages();
            lock (Gate)
            {
                if (_sharedFailure is not null)
                {
                    throw new InvalidOperationException("the test run's S3 server failed to start: " + _sharedFailure.Message, _sharedFailure);
                }

                if (_shared is null)
                {
                    var server = new S3Server();
                    try
                    {
                        server.Start();
                        Announce(server);
                    }
                    catch (Exception e)
                    {
                        server.Dispose();
                        _sharedFailure = e;
                        throw;
                    }

                    _shared = server;
                }

                return _shared;
            }
        }
    }

    /// <summary>A server of its own, not the run's (for the fixture's own tests); the caller disposes it.</summary>
    public static S3Server StartNew()
    {
        RequirePackages();
        var server = Launch();
        Announce(server);
        return server;
    }

    /// <summary>Stops the run's server if one was started (teardown and process exit).</summary>
    public static void StopShared()
    {
        lock (Gate)
        {
            _shared?.Dispose();
            _shared = null;
        }
    }

    /// <summary>Ignores the calling test when Swift is not installed (fails it when <see cref="RequireVariable"/> is 1).</summary>
    public static void RequirePackages()
    {
        var missing = MissingPackages();
        if (missing.Count == 0)
        {
            return;
        }

        var what = string.Join(", ", missing);
        if (Environment.GetEnvironmentVariable(RequireVariable) == "1")
        {
            throw new AssertionException($"the S3 server (OpenStack Swift) needs {what}, and {RequireVariable}=1 asks for the S3 tests: {InstallHint}");
        }

        throw new IgnoreException($"the S3 server (OpenStack Swift) needs {what}, so the S3 tests are skipped: {InstallHint} (set {RequireVariable}=1 to fail instead)");
    }

    private static void Announce(S3Server server) =>
        TestContext.Progress.WriteLine($"S3 server (Swift s3api) on {server.Endpoint} started in {server.StartupTime.TotalSeconds:0.00} s");
}

/// <summary>Stops the test run's S3 server when the run ends (it is started by the first test that needs it).</summary>
[SetUpFixture]
public sealed class StopS3AtRunEnd
{
    /// <summary>Stops the server.</summary>
    [OneTimeTearDown]
    public void StopServer() => S3Server.StopShared();
}
