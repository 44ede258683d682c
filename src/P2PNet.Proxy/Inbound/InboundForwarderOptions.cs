namespace P2PNet.Proxy.Inbound;

/// <summary>Limits and timeouts of an <see cref="InboundForwarder"/>.</summary>
public sealed class InboundForwarderOptions
{
    /// <summary>Forwarded connections open at once, at most; a public connection over it is reset at once and counted
    /// in <see cref="InboundForwarderStatistics.RefusedConnections"/>. Default 1024.</summary>
    public int MaxConnections { get; set; } = 1024;

    /// <summary>Public connections the kernel queues before they are accepted (the listen backlog). Default 512.</summary>
    public int ListenBacklog { get; set; } = 512;

    /// <summary>How long connecting to the target through the VPN may take; the public connection is reset after it.
    /// Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A forwarded connection that carries nothing either way for this long is reset.
    /// <see cref="Timeout.InfiniteTimeSpan"/> turns it off. Default 15 minutes.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when a value is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConnections, 1, nameof(MaxConnections));
        ArgumentOutOfRangeException.ThrowIfLessThan(ListenBacklog, 1, nameof(ListenBacklog));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ConnectTimeout, TimeSpan.Zero, nameof(ConnectTimeout));
        if (IdleTimeout <= TimeSpan.Zero && IdleTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(IdleTimeout), IdleTimeout, "Give a positive timeout, or Timeout.InfiniteTimeSpan for none.");
        }
    }
}
