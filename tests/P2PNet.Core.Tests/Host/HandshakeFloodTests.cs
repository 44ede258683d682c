using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Ping;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Host;

/// <summary>
/// Connections that open and then say nothing, from one address, on real sockets: they may hold only that address's
/// share of the handshake budget, so other dialers and our own outbound dials are unaffected.
/// </summary>
public sealed class HandshakeFloodTests(ITestOutputHelper output)
{
    private const int FloodSize = 140;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly IPAddress FloodSource = IPAddress.Parse("127.0.0.2");

    [Fact]
    public async Task SilentConnectionFloodFromOneAddress_DoesNotLockOutOtherDialers_NorOutboundDials()
    {
        using var meters = new ScopedMeterFactory();
        var refusals = new ConcurrentBag<(long Value, KeyValuePair<string, object?>[] Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Scope == meters && instrument.Name == "p2pnet.resource.refused")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) => refusals.Add((value, tags.ToArray())));
        listener.Start();

        using ILoggerFactory logs = XunitLoggerProvider.CreateFactory(output, LogLevel.Information);
        var refusalLines = new ConcurrentQueue<string>();
        logs.AddProvider(new CapturingProvider(refusalLines));
        await using var flooded = NewHost(logs, meters);
        await using var dialer = NewHost(logs, meters);
        await using var dialedOut = NewHost(logs, meters);
        foreach (var host in new[] { flooded, dialer, dialedOut })
        {
            await host.StartAsync().AsTask().WaitAsync(Timeout);
        }

        Assert.True(flooded.ListenAddresses[0].TryGetTcpEndPoint(out var target));
        var flood = new List<Socket>();
        var closedByHost = 0;
        var readers = new List<Task>();
        try
        {
            for (int i = 0; i < FloodSize; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                flood.Add(socket);
                socket.Bind(new IPEndPoint(FloodSource, 0));
                try
                {
                    await socket.ConnectAsync(target).WaitAsync(Timeout);
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
                {
                    // Accepted and refused (reset) before our side saw the connect complete.
                    Interlocked.Increment(ref closedByHost);
                    continue;
                }
                readers.Add(CountWhenClosedAsync(socket));
            }

            // Every flood connection was accepted and either holds a handshake slot or was refused.
            await WaitUntilAsync(() => flooded.GetResourceUsage() is var u && u.System.InboundHandshakes + u.Refused >= FloodSize);

            // Another address dials in, and completes well within the handshake timeout.
            var inbound = await dialer.DialAsync(flooded.ListenAddresses[0]).AsTask().WaitAsync(flooded.Options.HandshakeTimeout);
            await foreach (var _ in PingProtocol.PingAsync(inbound, 1).WithCancellation(new CancellationTokenSource(Timeout).Token))
            {
            }

            // The flooded host still dials out.
            var outbound = await flooded.DialAsync(dialedOut.ListenAddresses[0]).AsTask().WaitAsync(Timeout);
            Assert.Equal(dialedOut.PeerId, outbound.RemotePeer);

            // The flood holds no more than its address's share; the excess was refused and its sockets closed.
            var usage = flooded.GetResourceUsage();
            int perIp = flooded.Options.Resources.MaxInboundHandshakesPerIp;
            Assert.True(usage.System.InboundHandshakes <= perIp, $"{usage.System.InboundHandshakes} handshakes held");
            Assert.True(usage.Refused >= FloodSize - perIp, $"only {usage.Refused} refused");
            await WaitUntilAsync(() => Volatile.Read(ref closedByHost) >= FloodSize - perIp);

            // Counted by scope kind, resource and direction; never tagged with an address or a peer id.
            var ipRefusals = refusals.Where(r => HasTag(r.Tags, "scope", "ip") && HasTag(r.Tags, "resource", "handshakes")
                && HasTag(r.Tags, "direction", "inbound")).Sum(r => r.Value);
            Assert.True(ipRefusals >= FloodSize - perIp);
            Assert.All(refusals, r => Assert.All(r.Tags, t => Assert.Contains(t.Key, new[] { "scope", "resource", "direction" })));

            // 132 refusals, a handful of log lines: at most 5 per 10 s (twice that if the flood straddled an interval).
            var lines = refusalLines.Where(l => l.StartsWith("Refused an inbound connection", StringComparison.Ordinal)).ToArray();
            Assert.InRange(lines.Length, 1, 2 * flooded.Options.Resources.RefusalLogLines);
        }
        finally
        {
            flood.ForEach(s => s.Dispose());
            await Task.WhenAll(readers).WaitAsync(Timeout);
        }

        // Once the flood is gone, its handshake slots come back.
        await WaitUntilAsync(() => flooded.GetResourceUsage().System.InboundHandshakes == 0);

        async Task CountWhenClosedAsync(Socket socket)
        {
            var buffer = new byte[256];
            try
            {
                while (await socket.ReceiveAsync(buffer) > 0)
                {
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }

            Interlocked.Increment(ref closedByHost);
        }
    }

    private static bool HasTag(KeyValuePair<string, object?>[] tags, string key, string value) =>
        tags.Any(t => t.Key == key && Equals(t.Value, value));

    private static P2PHost NewHost(ILoggerFactory logs, IMeterFactory meters)
    {
        var options = new P2PHostOptions();
        options.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        return new P2PHost(options, logs, meters);
    }

    private static Task WaitUntilAsync(Func<bool> condition) =>
        Conditions.WaitUntilAsync(condition, Timeout, "the awaited condition did not hold");

    /// <summary>Keeps every warning the resource manager writes.</summary>
    private sealed class CapturingProvider(ConcurrentQueue<string> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new CapturingLogger(categoryName, lines);

        public void Dispose()
        {
        }

        private sealed class CapturingLogger(string category, ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (category.EndsWith("ResourceManager", StringComparison.Ordinal))
                {
                    lines.Enqueue(formatter(state, exception));
                }
            }
        }
    }

    /// <summary>Meters of this test only, so measurements of hosts in other tests are not mixed in.</summary>
    private sealed class ScopedMeterFactory : IMeterFactory
    {
        private readonly List<Meter> _meters = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options.Name, options.Version, options.Tags, scope: this);
            lock (_meters)
            {
                _meters.Add(meter);
            }

            return meter;
        }

        public void Dispose()
        {
            lock (_meters)
            {
                _meters.ForEach(m => m.Dispose());
            }
        }
    }
}
