using System.Net;

namespace P2PNet.Vpn;

/// <summary>Settings of a <see cref="VpnCoordinator"/> or <see cref="VpnMember"/>. Every limit has a documented default.</summary>
public sealed class VpnOptions
{
    // The queue must hold at least one super-packet buffer.
    private const int SuperPacketBytes = 64 * 1024;

    /// <summary>The VPN's id, 32 lowercase hex characters, carried on every stream of the VPN (docs/vpn.md). Coordinator:
    /// null (the default) generates a new random id; give the previous one to restart a coordinator whose members should
    /// keep their membership (the CLI keeps it beside the coordinator's key). Member: the VPN to join; null (the default)
    /// joins the only VPN the coordinator's host coordinates and learns the id from its table.</summary>
    public string? VpnId { get; set; }

    /// <summary>The network's IPv4 range (coordinator only; members learn it from the table). Default 10.86.0.0/24.</summary>
    public IPNetwork Network { get; set; } = IPNetwork.Parse("10.86.0.0/24");

    /// <summary>The coordinator's own address (coordinator only); null takes the lowest free one.</summary>
    public IPAddress? Address { get; set; }

    /// <summary>Coordinator: the VPN address of the outbound gateway, announced in every routing table
    /// (<see cref="VpnRoutingTable.Gateway"/>). Members send packets for destinations outside <see cref="Network"/> to
    /// the member holding it (which needs a <see cref="VpnEndpoint.Egress"/> to forward them). It may be an address no
    /// member holds yet: the member that later joins with it becomes the gateway. Null (the default): no gateway.</summary>
    public IPAddress? Gateway { get; set; }

    /// <summary>The MTU of the VPN interface, in bytes (576–65535). Default 1420, which leaves room for the TCP,
    /// Noise and Yamux overhead inside a 1500-byte Ethernet path.</summary>
    public int Mtu { get; set; } = 1420;

    /// <summary>Packets queued per peer while its stream is slow or away; more are dropped and counted. Default 1024.</summary>
    public int PeerQueueCapacity { get; set; } = 1024;

    /// <summary>Bytes of packet buffers queued per peer (a 64 KiB super-packet counts as 64 KiB); more are dropped and
    /// counted. At least 64 KiB (one super-packet). Default 2 MiB.</summary>
    public int PeerQueueBytes { get; set; } = 2 * 1024 * 1024;

    /// <summary>The first wait before redialing a lost peer; doubles up to <see cref="RedialMaxDelay"/>. Default 100 ms.</summary>
    public TimeSpan RedialInitialDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest wait between redials. Default 5 s.</summary>
    public TimeSpan RedialMaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The time a control exchange (join, table push) may take. Default 10 s.</summary>
    public TimeSpan ControlTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The first wait before a table push that failed (member unreachable, stream refused, no acknowledgement
    /// within <see cref="ControlTimeout"/>) is tried again; doubles up to <see cref="PushRetryMaxDelay"/>. Pushes to a
    /// member are retried until it acknowledges the current table or is removed. Default 200 ms.</summary>
    public TimeSpan PushRetryInitialDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest wait between retries of a table push. Default 5 s.</summary>
    public TimeSpan PushRetryMaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The largest control message accepted, in bytes. Default 1 MiB.</summary>
    public int MaxControlMessageSize { get; set; } = 1024 * 1024;

    /// <summary>Offer and accept only /p2pnet/vpn/ip/1.0.0, as a peer from before 2.0.0 does (tests).</summary>
    internal bool LegacyFramingOnly { get; set; }

    internal void Validate()
    {
        if (VpnId is not null && !Internal.VpnIds.IsValid(VpnId))
        {
            throw new ArgumentException($"A VPN id is 32 lowercase hex characters, not '{VpnId}'.");
        }
        if (Network.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || Network.PrefixLength is < 8 or > 30)
        {
            throw new ArgumentException($"The VPN network must be an IPv4 range with a prefix length of 8 to 30, not {Network}.");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(Mtu, 576);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Mtu, 65535);
        ArgumentOutOfRangeException.ThrowIfLessThan(PeerQueueCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(PeerQueueBytes, SuperPacketBytes);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(PushRetryInitialDelay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(PushRetryMaxDelay, PushRetryInitialDelay);
    }
}
