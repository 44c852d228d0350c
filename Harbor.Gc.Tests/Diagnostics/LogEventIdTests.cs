using System.Reflection;
using FluentAssertions;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace Harbor.Gc.Tests.Diagnostics;

/// <summary>
/// Each log message has its own event id (the JSON console format writes it as <c>EventId</c>, and operators filter by it):
/// the collector's messages and the runner's, each class's ids distinct.
/// </summary>
public class LogEventIdTests
{
    [TestCase(typeof(Gc.Diagnostics.GcMetrics), "Harbor.Gc.Diagnostics.Log")]
    [TestCase(typeof(Gc.Runner.ExitCodes), "Harbor.Gc.Runner.Daemon.Log")]
    public void EveryMessage_HasItsOwnEventId(Type inAssembly, string logClass)
    {
        var type = inAssembly.Assembly.GetType(logClass, throwOnError: true)!;
        var ids = type.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
            .Select(m => (m.Name, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(m => m.Attribute is not null)
            .Select(m => (m.Name, m.Attribute!.EventId))
            .ToList();

        ids.Should().HaveCountGreaterThan(3);
        ids.GroupBy(m => m.EventId).Where(g => g.Count() > 1).Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => m.Name))}")
            .Should().BeEmpty("an event id names one message");
    }
}
