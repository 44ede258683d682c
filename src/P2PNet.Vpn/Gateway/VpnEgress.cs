using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using P2PNet.Networking.Internal;
using P2PNet.Peers;

namespace P2PNet.Vpn.Gateway;

/// <summary>
/// An outbound gateway's egress control: which members may send to the Internet, to which destinations (the bridge's
/// address policy: private, loopback, link-local, carrier-grade NAT, multicast and metadata ranges refused unless
/// allowed), at what rate, and how much each has used. Set it as <see cref="VpnEndpoint.Egress"/> on the member that the
/// routing table names as gateway; the same checks hold whether the packets then leave through a kernel TUN with
/// masquerade or through <see cref="RootlessEgress"/>.
/// </summary>
/// <remarks>Thread-safe; the per-packet checks allocate nothing.</remarks>
public sealed class VpnEgress
{
    private readonly HashSet<PeerId> _requestors;
    private readonly AddressPolicy _policy;
    private readonly VpnEgressDestination[] _destinations;
    private readonly (uint Network, uint Mask, int? Port)[] _allowed;
    private readonly long _rate;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<PeerId, Account> _accounts = new();
    private long _refusedRequestor;
    private long _refusedDestination;
    private long _refusedRate;

    /// <summary>Creates the egress control.</summary>
    /// <param name="options">Requestors, destinations and limits.</param>
    /// <param name="timeProvider">Clock for durations and the rate limit; the system clock by default.</param>
    public VpnEgress(VpnEgressOptions options, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(options.BytesPerSecondPerRequestor);
        _requestors = [.. options.AllowedRequestors];
        _policy = new AddressPolicy(options.AllowedNetworks, options.DeniedNetworks);
        _destinations = [.. options.AllowedDestinations];
        _allowed = [.. _destinations.Where(d => d.Network.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
            .Select(d => (ToUInt32(d.Network.BaseAddress), Mask(d.Network.PrefixLength), d.Port))];
        _rate = options.BytesPerSecondPerRequestor;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Packets dropped: from a member that is not an allowed requestor.</summary>
    public long RefusedRequestor => Interlocked.Read(ref _refusedRequestor);

    /// <summary>Packets dropped: to a destination the policy refuses.</summary>
    public long RefusedDestination => Interlocked.Read(ref _refusedDestination);

    /// <summary>Packets dropped: over a requestor's bandwidth limit.</summary>
    public long RefusedRate => Interlocked.Read(ref _refusedRate);

    /// <summary>Usage per requestor that has sent through the gateway.</summary>
    public IReadOnlyList<VpnEgressUsage> GetUsage()
    {
        long now = _time.GetTimestamp();
        return [.. _accounts.Select(a => a.Value.Snapshot(a.Key, now, _time.TimestampFrequency))];
    }

    /// <summary>Whether the destination (and port) is one the policy lets requestors reach.</summary>
    public bool IsAllowedDestination(IPAddress address, int? port)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<byte> bytes = stackalloc byte[4];
        return address.TryWriteBytes(bytes, out int written) && written == 4 && DestinationAllowed(BinaryPrimitives.ReadUInt32BigEndian(bytes), port);
    }

    /// <summary>A member's packet towards the Internet: true when it may go; otherwise counted as refused.</summary>
    /// <param name="from">The member that sent it.</param>
    /// <param name="headers">The packet's first bytes (IPv4 header and the transport ports).</param>
    /// <param name="length">The packet's length (for usage and the rate).</param>
    internal bool AdmitOutbound(PeerId from, ReadOnlySpan<byte> headers, int length)
    {
        if (!_requestors.Contains(from))
        {
            Interlocked.Increment(ref _refusedRequestor);
            return false;
        }
        uint destination = BinaryPrimitives.ReadUInt32BigEndian(headers[16..]);
        var account = _accounts.GetOrAdd(from, _ => new Account(_time.GetTimestamp(), _rate));
        if (!DestinationAllowed(destination, PortOf(headers)))
        {
            Interlocked.Increment(ref _refusedDestination);
            account.Refused();
            return false;
        }
        if (!account.TryTake(length, _rate, _time.GetTimestamp(), _time.TimestampFrequency))
        {
            Interlocked.Increment(ref _refusedRate);
            return false;
        }
        account.AddOut(length);
        return true;
    }

    /// <summary>A packet from the Internet for a requestor: true when it may go (its rate); counted as its usage.</summary>
    internal bool AdmitInbound(PeerId to, int length)
    {
        if (!_accounts.TryGetValue(to, out var account))
        {
            return false; // it never sent anything out: nothing of it to answer
        }
        if (!account.TryTake(length, _rate, _time.GetTimestamp(), _time.TimestampFrequency))
        {
            Interlocked.Increment(ref _refusedRate);
            return false;
        }
        account.AddIn(length);
        return true;
    }

    private bool DestinationAllowed(uint destination, int? port)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, destination);
        if (!_policy.IsAllowed(bytes))
        {
            return false;
        }
        if (_allowed.Length == 0)
        {
            return _destinations.Length == 0; // only IPv6 entries given: no IPv4 destination is on the list
        }
        foreach (var (network, mask, allowedPort) in _allowed)
        {
            if ((destination & mask) == network && (allowedPort is null || allowedPort == port))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The TCP or UDP destination port, or null (another protocol, or a fragment after the first).</summary>
    private static int? PortOf(ReadOnlySpan<byte> headers)
    {
        int headerLength = (headers[0] & 0x0f) * 4;
        bool laterFragment = (BinaryPrimitives.ReadUInt16BigEndian(headers[6..]) & 0x1fff) != 0;
        return headers[9] is 6 or 17 && !laterFragment && headers.Length >= headerLength + 4
            ? BinaryPrimitives.ReadUInt16BigEndian(headers[(headerLength + 2)..])
            : null;
    }

    private static uint ToUInt32(IPAddress address) => BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());

    private static uint Mask(int prefixLength) => prefixLength == 0 ? 0 : uint.MaxValue << (32 - prefixLength);

    /// <summary>One requestor's counters and byte bucket.</summary>
    private sealed class Account(long firstSeen, long rate)
    {
        private readonly Lock _bucket = new();
        private readonly long _firstSeen = firstSeen;
        private long _in;
        private long _out;
        private long _refused;
        private double _tokens = rate;
        private long _refilled = firstSeen;

        public void AddIn(int bytes) => Interlocked.Add(ref _in, bytes);

        public void AddOut(int bytes) => Interlocked.Add(ref _out, bytes);

        public void Refused() => Interlocked.Increment(ref _refused);

        public bool TryTake(int bytes, long rate, long now, long frequency)
        {
            if (rate <= 0)
            {
                return true;
            }
            lock (_bucket)
            {
                _tokens = Math.Min(rate, _tokens + ((now - _refilled) * (double)rate / frequency));
                _refilled = now;
                // Debt is allowed (a 64 KiB super-packet passes a bucket smaller than itself); the next packets wait it out.
                if (_tokens <= 0)
                {
                    Interlocked.Increment(ref _refused);
                    return false;
                }
                _tokens -= bytes;
                return true;
            }
        }

        public VpnEgressUsage Snapshot(PeerId peer, long now, long frequency) =>
            new(peer, Math.Round((now - _firstSeen) / (double)frequency, 3), Interlocked.Read(ref _in), Interlocked.Read(ref _out), Interlocked.Read(ref _refused));
    }
}
