using Microsoft.Extensions.Logging;
using P2PNet.Proxy.UdpBridge.Internal;
using P2PNet.Testing;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>Refusals are logged at a bounded rate, and the lines that are logged say how many were not.</summary>
public sealed class RefusalLogTests
{
    [Fact]
    public void AFloodOfRefusals_LogsAtMostTheBoundPerSecond_ThenSaysHowManyWereSkipped()
    {
        var time = new ManualTimeProvider();
        var logs = new CapturedLogs();
        using ILoggerFactory factory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        var log = new RefusalLog(factory.CreateLogger("bridge"), time);

        for (int i = 0; i < 1000; i++)
        {
            log.Refused("192.0.2.1", "handshakes_per_address");
        }

        Assert.Equal(RefusalLog.PerSecond, logs.Lines.Count);
        Assert.All(logs.Lines, line => Assert.Contains("0 more refusals were not logged", line, StringComparison.Ordinal));

        time.Advance(TimeSpan.FromSeconds(1));
        log.Refused("192.0.2.1", "handshakes_per_address");

        Assert.Equal(RefusalLog.PerSecond + 1, logs.Lines.Count);
        Assert.Contains($"{1000 - RefusalLog.PerSecond} more refusals were not logged", logs.Lines.Last(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StandaloneBridge_FloodOfRefusedRequests_LogsAtMostTheBound()
    {
        var time = new ManualTimeProvider();
        var logs = new CapturedLogs();
        using ILoggerFactory factory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        await using var server = new Proxy.UdpBridge.UdpBridgeServer(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0),
            o => o.TimeProvider = time, path: "/udp", loggerFactory: factory);
        await server.StartAsync().WaitAsync(BridgeClient.Timeout);
        using var http = new HttpClient();

        for (int i = 0; i < 30; i++)
        {
            using HttpResponseMessage response = await http.GetAsync(new UriBuilder(server.Url) { Scheme = "http" }.Uri).WaitAsync(BridgeClient.Timeout);
            Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode);
        }

        Assert.Equal(RefusalLog.PerSecond, logs.Lines.Count(line => line.Contains("refused a connection", StringComparison.Ordinal)));
    }
}
