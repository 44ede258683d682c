using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace P2PNet.Host.Internal;

/// <summary>The host's instruments, under the meter <c>P2PNet</c> (OpenTelemetry-style names, low-cardinality tags).</summary>
internal sealed class HostMetrics : IDisposable
{
    public const string MeterName = "P2PNet";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _connectionsOpened;
    private readonly UpDownCounter<long> _connectionsActive;
    private readonly Counter<long> _handshakeFailures;
    private readonly Histogram<double> _handshakeDuration;
    private readonly Counter<long> _streamsOpened;

    private long _closedBytesReceived;
    private long _closedBytesSent;

    public HostMetrics(IMeterFactory? meterFactory, Func<IReadOnlyList<P2PConnection>> connections)
    {
        _ownsMeter = meterFactory is null; // a factory's meters belong to the factory
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _connectionsOpened = _meter.CreateCounter<long>("p2pnet.connection.opened", "{connection}", "Connections that completed their upgrade.");
        _connectionsActive = _meter.CreateUpDownCounter<long>("p2pnet.connection.active", "{connection}", "Connections open now.");
        _handshakeFailures = _meter.CreateCounter<long>("p2pnet.connection.handshake.failed", "{connection}", "Connection upgrades that failed.");
        _handshakeDuration = _meter.CreateHistogram<double>("p2pnet.connection.handshake.duration", "s", "Time from raw connection to a ready secured, multiplexed connection.");
        _streamsOpened = _meter.CreateCounter<long>("p2pnet.stream.opened", "{stream}", "Streams opened, by protocol and direction.");
        // Observed, not counted per read: the hot path only bumps a per-connection total.
        _meter.CreateObservableCounter("p2pnet.transport.bytes.received",
            () => Interlocked.Read(ref _closedBytesReceived) + connections().Sum(c => c.BytesReceived), "By", "Bytes received on transports.");
        _meter.CreateObservableCounter("p2pnet.transport.bytes.sent",
            () => Interlocked.Read(ref _closedBytesSent) + connections().Sum(c => c.BytesSent), "By", "Bytes sent on transports.");
    }

    /// <summary>The host's meter, for instruments kept elsewhere (the resource manager's).</summary>
    public Meter Meter => _meter;

    public void ConnectionOpened(ConnectionDirection direction, TimeSpan handshake)
    {
        var tag = new KeyValuePair<string, object?>("direction", direction == ConnectionDirection.Inbound ? "inbound" : "outbound");
        _connectionsOpened.Add(1, tag);
        _connectionsActive.Add(1, tag);
        _handshakeDuration.Record(handshake.TotalSeconds, tag);
    }

    public void ConnectionClosed(P2PConnection connection)
    {
        Interlocked.Add(ref _closedBytesReceived, connection.BytesReceived);
        Interlocked.Add(ref _closedBytesSent, connection.BytesSent);
        _connectionsActive.Add(-1, new KeyValuePair<string, object?>("direction", connection.Direction == ConnectionDirection.Inbound ? "inbound" : "outbound"));
    }

    public void HandshakeFailed(ConnectionDirection direction) =>
        _handshakeFailures.Add(1, new KeyValuePair<string, object?>("direction", direction == ConnectionDirection.Inbound ? "inbound" : "outbound"));

    public void StreamOpened(string protocol, bool outbound)
    {
        var tags = new TagList { { "protocol", protocol }, { "direction", outbound ? "outbound" : "inbound" } };
        _streamsOpened.Add(1, tags);
    }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
