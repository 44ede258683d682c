using System.Net;
using P2PNet.Peers;

namespace P2PNet.Vpn.Gateway;

/// <summary>Who may use an outbound gateway and where to: the gateway operator's policy (docs/outbound-gateway.md).</summary>
public sealed class VpnEgressOptions
{
    /// <summary>The members allowed to send traffic to the Internet through this gateway; packets from any other member
    /// are dropped and counted. Empty by default: nobody.</summary>
    public ISet<PeerId> AllowedRequestors { get; } = new HashSet<PeerId>();

    /// <summary>Networks allowed even though the default policy refuses them (loopback, private, link-local, carrier-grade
    /// NAT, multicast, reserved, cloud metadata at 169.254.169.254 — the bridge's list). The longest matching prefix among
    /// these and <see cref="DeniedNetworks"/> decides.</summary>
    public IList<IPNetwork> AllowedNetworks { get; } = [];

    /// <summary>Networks refused in addition to the default list.</summary>
    public IList<IPNetwork> DeniedNetworks { get; } = [];

    /// <summary>When not empty, only these destinations are reachable (after the address policy): a network, and a
    /// port (TCP and UDP) or null for every port and ICMP.</summary>
    public IList<VpnEgressDestination> AllowedDestinations { get; } = [];

    /// <summary>Bytes per second one requestor may move through the gateway, both directions together (a token bucket
    /// holding one second's worth); packets over it are dropped and counted. 0 (the default) for no limit.</summary>
    public long BytesPerSecondPerRequestor { get; set; }
}

/// <summary>A destination an outbound gateway allows (<see cref="VpnEgressOptions.AllowedDestinations"/>).</summary>
/// <param name="Network">The destination network.</param>
/// <param name="Port">The TCP or UDP port, or null for every port (and ICMP).</param>
public sealed record VpnEgressDestination(IPNetwork Network, int? Port = null)
{
    /// <summary>Parses <c>CIDR</c> or <c>CIDR:PORT</c> (e.g. <c>203.0.113.0/24:443</c>).</summary>
    /// <exception cref="FormatException">Not a CIDR, or a port outside 1–65535.</exception>
    public static VpnEgressDestination Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        int colon = slash < 0 ? -1 : text.IndexOf(':', slash);
        string cidr = colon < 0 ? text : text[..colon];
        if (!IPNetwork.TryParse(cidr, out var network))
        {
            throw new FormatException($"'{text}' is not CIDR or CIDR:PORT (e.g. 203.0.113.0/24:443).");
        }
        if (colon < 0)
        {
            return new VpnEgressDestination(network);
        }
        return int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port)
            && port is >= 1 and <= 65535
            ? new VpnEgressDestination(network, port)
            : throw new FormatException($"'{text}': the port must be 1 to 65535.");
    }
}
