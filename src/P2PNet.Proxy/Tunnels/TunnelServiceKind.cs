namespace P2PNet.Proxy.Tunnels;

/// <summary>How a tunnelled service is reached from the public side.</summary>
public enum TunnelServiceKind
{
    /// <summary>A public TCP port from the server's range, forwarded byte for byte (SSH, databases, …).</summary>
    Tcp = 0,

    /// <summary>A public UDP port from the server's range; datagrams travel framed on a stream.</summary>
    Udp = 1,

    /// <summary>A name <c>&lt;service&gt;.&lt;device&gt;.&lt;domain&gt;</c> on the server's HTTP front, routed by the Host header.</summary>
    Http = 2,

    /// <summary>A name <c>&lt;service&gt;.&lt;device&gt;.&lt;domain&gt;</c> on the server's TLS front, routed by SNI; TLS ends on the device.</summary>
    Https = 3,
}
