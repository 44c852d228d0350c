using System.Diagnostics;
using System.Globalization;
using Harbor.Gc.Tests.Support;
using Npgsql;

namespace Harbor.Gc.Tests.Integration;

/// <summary>The test run's PostgreSQL cluster: real, loopback only, password-protected, never root, a database per test.</summary>
[TestFixture]
[NonParallelizable]
public sealed class PostgresClusterTests
{
    [Test]
    public async Task The_cluster_serves_on_loopback_only_as_a_non_root_user_with_a_database_per_test()
    {
        // given the run's cluster
        var cluster = PostgresCluster.Shared;

        // when a test makes its database and connects to it
        var database = await cluster.CreateDatabaseAsync();
        try
        {
            await using var connection = new NpgsqlConnection(cluster.ConnectionString(database));
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT current_database(), current_setting('listen_addresses'), current_setting('unix_socket_directories')", connection);
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();

            // then it is that database, served on 127.0.0.1 only, with no Unix socket, by a server that is not root
            reader.GetString(0).Should().Be(database);
            reader.GetString(1).Should().Be("127.0.0.1");
            reader.GetString(2).Should().BeEmpty();
            var uid = File.ReadLines($"/proc/{cluster.ProcessId}/status").First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1];
            int.Parse(uid, CultureInfo.InvariantCulture).Should().NotBe(0, "PostgreSQL never runs as root");
        }
        finally
        {
            await cluster.DropDatabaseAsync(database);
        }
    }

    [Test]
    public async Task A_wrong_password_is_refused()
    {
        // given the run's cluster, which asks for a password on loopback
        var cluster = PostgresCluster.Shared;

        // when a client gives a wrong one
        await using var connection = new NpgsqlConnection(cluster.ConnectionString("postgres", password: "wrong"));
        var open = () => connection.OpenAsync();

        // then it is refused
        (await open.Should().ThrowAsync<PostgresException>()).Which.SqlState.Should().Be(PostgresErrorCodes.InvalidPassword);
    }

    [Test]
    public async Task The_watchdog_ends_the_server_when_the_test_process_dies()
    {
        // given a stand-in for the test process and one for the server (each a sleep), watched by the cluster's watchdog
        using var parent = Process.Start("sleep", "600");
        using var server = Process.Start("sleep", "600");
        using var watchdog = PostgresServer.StartWatchdog(parent.Id, server.Id);
        try
        {
            // when the test process dies (SIGKILL: no teardown runs)
            parent.Kill();
            await parent.WaitForExitAsync();

            // then the watchdog ends the server (it polls once a second; bound generously)
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await server.WaitForExitAsync(bound.Token);
            server.HasExited.Should().BeTrue();
        }
        finally
        {
            foreach (var process in new[] { parent, server, watchdog })
            {
                if (!process.HasExited)
                {
                    process.Kill();
                }
            }
        }
    }
}
