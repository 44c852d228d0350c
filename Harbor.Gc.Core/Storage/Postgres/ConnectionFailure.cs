using System.Net.Sockets;

namespace Harbor.Gc.Storage.Postgres;

/// <summary>Why a connection to PostgreSQL failed, for the message of both PostgreSQL stores.</summary>
internal static class ConnectionFailure
{
    /// <summary>The innermost exception's message, or the socket error's where there is one (Npgsql wraps it).</summary>
    public static string Reason(Exception e)
    {
        while (e.InnerException is { } inner && e is not SocketException)
        {
            e = inner;
        }

        return e.Message;
    }
}
