using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Ping;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.Host;

public sealed class HostMetricsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Metrics_CountConnectionsStreamsAndHandshakeTime()
    {
        // A meter factory of our own, so measurements of hosts in other tests are not mixed in.
        using var factory = new TestMeterFactory();
        var totals = new ConcurrentDictionary<string, double>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Scope == factory)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((i, value, tags, _) => totals.AddOrUpdate(i.Name, value, (_, old) => old + value));
        listener.SetMeasurementEventCallback<double>((i, value, tags, _) => totals.AddOrUpdate(i.Name, value, (_, old) => old + value));
        listener.Start();

        var options = new P2PHostOptions();
        await using var a = new P2PHost(options, meterFactory: factory);
        await using var b = new P2PHost(new P2PHostOptions(), meterFactory: factory);
        var bound = await b.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).AsTask().WaitAsync(Timeout);
        var connection = await a.DialAsync(bound[0]).AsTask().WaitAsync(Timeout);
        await foreach (var rtt in PingProtocol.PingAsync(connection, 1).WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
        }

        Assert.Equal(2, totals["p2pnet.connection.opened"]);        // one each side
        Assert.Equal(2, totals["p2pnet.connection.active"]);
        Assert.True(totals["p2pnet.connection.handshake.duration"] > 0);
        Assert.True(totals["p2pnet.stream.opened"] >= 2);             // ping, both sides (identify too)
        Assert.True(connection.BytesSent > 32 && connection.BytesReceived > 32); // a ping each way, plus handshakes
        listener.RecordObservableInstruments();
        Assert.True(totals["p2pnet.transport.bytes.sent"] >= connection.BytesSent);
        Assert.True(totals["p2pnet.transport.bytes.received"] >= connection.BytesReceived);

        await connection.DisposeAsync().AsTask().WaitAsync(Timeout);
        await WaitUntilAsync(() => totals["p2pnet.connection.active"] == 0);
    }

    private static Task WaitUntilAsync(Func<bool> condition) =>
        Conditions.WaitUntilAsync(condition, Timeout, "the awaited condition did not hold");

    private sealed class TestMeterFactory : IMeterFactory
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
