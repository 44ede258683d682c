using System.Diagnostics.Metrics;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>Direction of a relayed datagram, the <c>direction</c> tag of the bridge's metrics.</summary>
internal enum RelayDirection
{
    /// <summary>Browser → bridge → UDP (tag value <c>to_udp</c>).</summary>
    ToUdp,

    /// <summary>UDP → bridge → browser (tag value <c>to_websocket</c>).</summary>
    ToWebSocket,
}

/// <summary>Why a datagram was dropped, the <c>reason</c> tag of <c>p2pnet.bridge.datagrams.dropped</c>.</summary>
internal enum DropReason
{
    /// <summary>Over the client's datagram or byte rate (<c>rate_limited</c>).</summary>
    RateLimited,

    /// <summary>Over the rate shared by every client of the same address (<c>address_rate_limited</c>).</summary>
    AddressRateLimited,

    /// <summary>The address policy refused the destination (<c>destination_refused</c>).</summary>
    DestinationRefused,

    /// <summary>The address policy refused the source of an inbound datagram (<c>source_refused</c>).</summary>
    SourceRefused,

    /// <summary>An inbound datagram larger than the maximum (<c>oversize</c>).</summary>
    Oversize,

    /// <summary>The UDP socket cannot reach the family (IPv6 destination on an IPv4 socket) (<c>unreachable</c>).</summary>
    Unreachable,

    /// <summary>The operating system refused the send (<c>send_failed</c>).</summary>
    SendFailed,
}

/// <summary>
/// The bridge's instruments, on the meter <c>P2PNet.Proxy.UdpBridge</c>: <c>p2pnet.bridge.clients.active</c>,
/// <c>p2pnet.bridge.connections.rejected</c>, <c>p2pnet.bridge.handshakes.active</c>, <c>p2pnet.bridge.datagrams.relayed</c>,
/// <c>p2pnet.bridge.bytes.relayed</c>, <c>p2pnet.bridge.datagrams.dropped</c> and <c>p2pnet.bridge.clients.closed</c>.
/// Tags are low-cardinality enums only.
/// </summary>
internal sealed class UdpBridgeMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "P2PNet.Proxy.UdpBridge";

    private static readonly KeyValuePair<string, object?> ToUdpTag = new("direction", "to_udp");
    private static readonly KeyValuePair<string, object?> ToWebSocketTag = new("direction", "to_websocket");

    private readonly UpDownCounter<long> _clients;
    private readonly Counter<long> _rejected;
    private readonly UpDownCounter<long> _handshakes;
    private readonly Counter<long> _datagrams;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _drops;
    private readonly Counter<long> _closes;

    public UdpBridgeMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        Meter meter = meterFactory.Create(MeterName);
        _clients = meter.CreateUpDownCounter<long>("p2pnet.bridge.clients.active", "{client}", "Clients connected now.");
        _rejected = meter.CreateCounter<long>("p2pnet.bridge.connections.rejected", "{connection}",
            "WebSocket requests refused, by reason (max_clients, max_clients_per_address, handshakes, handshakes_per_address, "
            + "handshake_timeout, headers_too_large, unauthorized, origin, not_websocket, not_found, shutting_down).");
        _handshakes = meter.CreateUpDownCounter<long>("p2pnet.bridge.handshakes.active", "{connection}",
            "Connections of the standalone server in their opening handshake now.");
        _datagrams = meter.CreateCounter<long>("p2pnet.bridge.datagrams.relayed", "{datagram}", "Datagrams relayed, by direction.");
        _bytes = meter.CreateCounter<long>("p2pnet.bridge.bytes.relayed", "By", "Datagram payload bytes relayed, by direction.");
        _drops = meter.CreateCounter<long>("p2pnet.bridge.datagrams.dropped", "{datagram}", "Datagrams dropped, by direction and reason.");
        _closes = meter.CreateCounter<long>("p2pnet.bridge.clients.closed", "{client}", "Client sessions ended, by reason.");
    }

    public void ClientOpened() => _clients.Add(1);

    public void ClientClosed(string reason)
    {
        _clients.Add(-1);
        _closes.Add(1, new KeyValuePair<string, object?>("reason", reason));
    }

    public void HandshakeStarted() => _handshakes.Add(1);

    public void HandshakeEnded() => _handshakes.Add(-1);

    public void Rejected(string reason) => _rejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void Relayed(RelayDirection direction, int payloadBytes) => Relayed(direction, 1, payloadBytes);

    /// <summary>Counts a batch of relayed datagrams at once (one update per instrument, not one per datagram).</summary>
    public void Relayed(RelayDirection direction, int datagrams, long payloadBytes)
    {
        KeyValuePair<string, object?> tag = direction == RelayDirection.ToUdp ? ToUdpTag : ToWebSocketTag;
        _datagrams.Add(datagrams, tag);
        _bytes.Add(payloadBytes, tag);
    }

    public void Dropped(RelayDirection direction, DropReason reason)
    {
        if (_drops.Enabled)
        {
            _drops.Add(1, direction == RelayDirection.ToUdp ? ToUdpTag : ToWebSocketTag, new("reason", ReasonTag(reason)));
        }
    }

    private static string ReasonTag(DropReason reason) => reason switch
    {
        DropReason.RateLimited => "rate_limited",
        DropReason.AddressRateLimited => "address_rate_limited",
        DropReason.DestinationRefused => "destination_refused",
        DropReason.SourceRefused => "source_refused",
        DropReason.Oversize => "oversize",
        DropReason.Unreachable => "unreachable",
        _ => "send_failed",
    };
}
