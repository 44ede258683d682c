using System.Reflection;
using Microsoft.Extensions.Logging;
using P2PNet.Testing.Interop;

namespace P2PNet.Core.Tests.Diagnostics;

/// <summary>Every log event of the packages has an id of its own (docs/architecture.md lists the ranges): a log
/// pipeline that filters or alerts by event id must not confuse, say, a relay refusal with an mDNS query.</summary>
public sealed class LogEventIdTests
{
    [Fact]
    public void EveryLoggerMessage_HasAUniqueEventId()
    {
        // The other packages are not references of this project: the CLI's build output holds them all.
        string packages = Path.GetDirectoryName(P2PNetCli.Assembly)!;
        Assembly[] assemblies =
        [
            typeof(P2PNet.Host.P2PHost).Assembly,
            .. new[] { "P2PNet.Swarm", "P2PNet.Vpn", "P2PNet.Proxy" }.Select(name => Assembly.LoadFrom(Path.Combine(packages, name + ".dll"))),
        ];
        var events = assemblies
            .SelectMany(a => a.GetTypes())
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(e => e.Attribute is not null)
            .ToList();
        Assert.True(events.Count > 100, $"only {events.Count} log events found: the scan is broken");
        var shared = events.GroupBy(e => e.Attribute!.EventId).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(e => $"{e.Method.DeclaringType!.Name}.{e.Method.Name}"))}")
            .ToList();
        Assert.True(shared.Count == 0, "event ids used twice:\n" + string.Join('\n', shared));
    }
}
