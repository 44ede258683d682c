using P2PNet.Peers;

namespace P2PNet.Vpn.Gateway;

/// <summary>One requestor's use of an outbound gateway, in the usage vector of the outbound-gateway design.</summary>
/// <param name="Requestor">The member.</param>
/// <param name="DurationSeconds">Seconds since its first packet through the gateway (<c>golem.usage.duration_sec</c>).</param>
/// <param name="BytesIn">Bytes from the Internet delivered to it (<c>golem.usage.network.in</c>).</param>
/// <param name="BytesOut">Bytes it sent to the Internet (<c>golem.usage.network.out</c>).</param>
/// <param name="PacketsRefused">Its packets dropped by the policy or its bandwidth limit.</param>
public sealed record VpnEgressUsage(PeerId Requestor, double DurationSeconds, long BytesIn, long BytesOut, long PacketsRefused)
{
    /// <summary>The usage vector's names, in its order.</summary>
    public static IReadOnlyList<string> UsageVector { get; } = ["golem.usage.duration_sec", "golem.usage.network.in", "golem.usage.network.out"];

    /// <summary>The values of <see cref="UsageVector"/>.</summary>
    public IReadOnlyList<double> ToUsageVector() => [DurationSeconds, BytesIn, BytesOut];
}
