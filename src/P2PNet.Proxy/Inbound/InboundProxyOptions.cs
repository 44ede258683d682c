namespace P2PNet.Proxy.Inbound;

/// <summary>Limits and timeouts of an <see cref="InboundProxy"/>. The per-source limits apply over all of its public
/// sockets together (gateways and probes): they are the flood protection the inbound-proxy design defers.</summary>
public sealed class InboundProxyOptions
{
    /// <summary>Connections (and UDP flows) one client IP may hold open at once over all public sockets; more are reset
    /// at once and counted as refused. IPv6 clients count per /64. 0 turns the limit off. Default 64.</summary>
    public int MaxConnectionsPerSource { get; set; } = 64;

    /// <summary>New connections (and UDP flows) one client IP may open per second, with a burst of as many; more are reset
    /// at once and counted as rate limited. 0 turns the limit off. Default 50.</summary>
    public int ConnectionRatePerSource { get; set; } = 50;

    /// <summary>Connections (or UDP flows) one gateway socket carries at once. Default 1024.</summary>
    public int MaxConnectionsPerSocket { get; set; } = 1024;

    /// <summary>Probe sockets and gateway sockets bound at once, together. Default 256.</summary>
    public int MaxSockets { get; set; } = 256;

    /// <summary>(Requestor, token) pairs one probe socket holds. Default 256.</summary>
    public int MaxProbesPerSocket { get; set; } = 256;

    /// <summary>How long connecting to the service through the VPN may take. Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A forwarded TCP connection carrying nothing either way for this long is reset (the design's idle
    /// teardown). <see cref="Timeout.InfiniteTimeSpan"/> turns it off. Default 15 minutes.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>A UDP flow without a datagram either way for this long ends. Default 60 s.</summary>
    public TimeSpan UdpFlowIdleTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a TCP probe client has to send its request. Default 5 s.</summary>
    public TimeSpan ProbeRequestTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The window of the "current" data rates; the maximum is the highest rate over any such window. Default 2 s.</summary>
    public TimeSpan RateWindow { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Activities whose metrics are kept after their gateway sockets are gone (the oldest go first). Default 1024.</summary>
    public int MaxRetainedActivities { get; set; } = 1024;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when a value is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(MaxConnectionsPerSource, nameof(MaxConnectionsPerSource));
        ArgumentOutOfRangeException.ThrowIfNegative(ConnectionRatePerSource, nameof(ConnectionRatePerSource));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConnectionsPerSocket, 1, nameof(MaxConnectionsPerSocket));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSockets, 1, nameof(MaxSockets));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxProbesPerSocket, 1, nameof(MaxProbesPerSocket));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRetainedActivities, 1, nameof(MaxRetainedActivities));
        foreach (var (value, name) in new[] { (ConnectTimeout, nameof(ConnectTimeout)), (UdpFlowIdleTimeout, nameof(UdpFlowIdleTimeout)),
            (ProbeRequestTimeout, nameof(ProbeRequestTimeout)), (RateWindow, nameof(RateWindow)) })
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero, name);
        }
        if (IdleTimeout <= TimeSpan.Zero && IdleTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(IdleTimeout), IdleTimeout, "Give a positive timeout, or Timeout.InfiniteTimeSpan for none.");
        }
    }
}
