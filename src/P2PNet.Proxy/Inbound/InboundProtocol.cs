namespace P2PNet.Proxy.Inbound;

/// <summary>The transport of an inbound proxy's public socket (<c>{proto}</c> in the management API: <c>tcp</c>, <c>udp</c>).</summary>
public enum InboundProtocol
{
    /// <summary>TCP: connections.</summary>
    Tcp,

    /// <summary>UDP: datagrams, grouped into flows per client endpoint.</summary>
    Udp,
}
