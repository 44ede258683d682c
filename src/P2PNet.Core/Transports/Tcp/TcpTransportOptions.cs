namespace P2PNet.Transports.Tcp;

/// <summary>Settings of the TCP transport.</summary>
public sealed class TcpTransportOptions
{
    /// <summary>How long a TCP connect may take. Default 10 seconds.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The listen backlog. Default 512.</summary>
    public int Backlog { get; set; } = 512;

    /// <summary>Disable Nagle's algorithm (recommended: the muxer batches writes itself). Default true.</summary>
    public bool NoDelay { get; set; } = true;

    /// <summary>Bytes buffered from the socket before reads pause (backpressure). Default 1 MiB.</summary>
    public int MaxReadBufferSize { get; set; } = 1024 * 1024;

    /// <summary>Bytes buffered for the socket before writers pause (backpressure). Default 1 MiB.</summary>
    public int MaxWriteBufferSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// Dial out from the port we listen on (SO_REUSEPORT on the listener and on outbound sockets), as go-libp2p does.
    /// NAT traversal needs it: peers then observe the address our NAT maps for the listening port, which AutoNAT can
    /// verify and hole punching (DCUtR) can aim at, and the TCP simultaneous open of a hole punch leaves from that port.
    /// A dial that cannot reuse the port (the same remote already connected from it, or no listener of the address
    /// family) uses an ephemeral port instead. The price: another process of the same user that also sets SO_REUSEPORT
    /// can bind the same port without an error. Default false; <c>p2pnet node</c> turns it on unless hole punching is off.
    /// </summary>
    public bool PortReuse { get; set; }

    /// <summary>
    /// Deliver each connection's data with as few thread wake-ups as possible, for hosts with a few connections where
    /// the time of a lone packet matters (a VPN node: an interactive session over it sends one small packet at a time).
    /// Each connection then receives on its own background thread, blocked in poll(2), which decrypts, demultiplexes and
    /// hands the data to the stream's reader itself; a flush is encrypted and sent on the flushing thread. A lone packet
    /// then wakes one thread per hop instead of the socket engine's thread and several thread-pool workers
    /// (docs/vpn.md, "Latency at human rates").
    /// <para>The price: a thread per connection, and a stream read woken by a small frame (up to 4 KiB; larger ones wake
    /// the reader on the thread pool) continues on that receive thread, so a reader that blocks (or computes for long)
    /// before its next read holds up every stream of its connection; hand heavy work off. Default false: connections
    /// share the socket engine and the thread pool, which scales to thousands of connections. <c>p2pnet vpn up</c> turns
    /// it on.</para>
    /// </summary>
    public bool LowLatency { get; set; }
}
