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
}
