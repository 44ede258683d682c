using System.Net;
using System.Net.Sockets;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>
/// Decides which remote addresses a bridge client may exchange datagrams with, working on raw address bytes so the
/// per-datagram check allocates nothing.
/// </summary>
/// <remarks>
/// Order of decision: the most specific (longest prefix) rule among the allowed and denied networks wins, a deny
/// winning a tie; when no rule matches, the default refuses the special-purpose ranges listed in
/// <see cref="DefaultRefusedIPv4"/> and <see cref="DefaultRefusedIPv6"/> (loopback, private, link-local, multicast,
/// unspecified and a few more) and allows everything else.
/// IPv4 addresses embedded in IPv6 (IPv4-mapped <c>::ffff:0:0/96</c>, IPv4-compatible <c>::/96</c> and NAT64
/// <c>64:ff9b::/96</c>) are judged as the IPv4 address they reach, so <c>::ffff:127.0.0.1</c> is loopback.
/// Immutable and thread-safe.
/// </remarks>
internal sealed class AddressPolicy
{
    /// <summary>IPv4 ranges refused unless an allowed network overrides (RFC 6890 special-purpose registry).</summary>
    public static readonly IReadOnlyList<string> DefaultRefusedIPv4 =
    [
        "0.0.0.0/8",        // unspecified, "this network"
        "10.0.0.0/8",       // private (RFC 1918)
        "100.64.0.0/10",    // shared address space, carrier-grade NAT (RFC 6598)
        "127.0.0.0/8",      // loopback
        "169.254.0.0/16",   // link-local
        "172.16.0.0/12",    // private (RFC 1918)
        "192.0.0.0/24",     // IETF protocol assignments
        "192.168.0.0/16",   // private (RFC 1918)
        "198.18.0.0/15",    // benchmarking (RFC 2544)
        "224.0.0.0/4",      // multicast
        "240.0.0.0/4",      // reserved, including 255.255.255.255 broadcast
    ];

    /// <summary>IPv6 ranges refused unless an allowed network overrides.</summary>
    public static readonly IReadOnlyList<string> DefaultRefusedIPv6 =
    [
        "::/128",           // unspecified
        "::1/128",          // loopback
        "fc00::/7",         // unique local (private)
        "fe80::/10",        // link-local
        "fec0::/10",        // site-local (deprecated, still private)
        "ff00::/8",         // multicast
    ];

    private static readonly Rule[] DefaultRules =
        [.. DefaultRefusedIPv4.Concat(DefaultRefusedIPv6).Select(cidr => Rule.Parse(cidr, allow: false))];

    private readonly Rule[] _rules;

    /// <summary>Creates a policy from allowed and denied networks (either may be empty).</summary>
    public AddressPolicy(IEnumerable<IPNetwork> allowed, IEnumerable<IPNetwork> denied)
    {
        ArgumentNullException.ThrowIfNull(allowed);
        ArgumentNullException.ThrowIfNull(denied);

        // Longest prefix first, deny before allow at equal length: the first match decides.
        _rules =
        [
            .. allowed.Select(n => Rule.From(n, allow: true))
                .Concat(denied.Select(n => Rule.From(n, allow: false)))
                .OrderByDescending(r => r.PrefixLength)
                .ThenBy(r => r.Allow),
        ];
    }

    /// <summary>Whether datagrams may go to (or come from) <paramref name="address"/>, given as 4 or 16 bytes.</summary>
    public bool IsAllowed(ReadOnlySpan<byte> address)
    {
        if (address.Length == 16 && TryGetEmbeddedIPv4(address, out ReadOnlySpan<byte> v4))
        {
            address = v4;
        }

        if (address.Length != 4 && address.Length != 16)
        {
            return false;
        }

        foreach (Rule rule in _rules)
        {
            if (rule.Matches(address))
            {
                return rule.Allow;
            }
        }

        foreach (Rule rule in DefaultRules)
        {
            if (rule.Matches(address))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether <paramref name="address"/> is allowed (allocates nothing beyond the caller's address).</summary>
    public bool IsAllowed(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<byte> bytes = stackalloc byte[16];
        return address.TryWriteBytes(bytes, out int written) && IsAllowed(bytes[..written]);
    }

    /// <summary>Finds an IPv4 address carried inside an IPv6 one (mapped, compatible or NAT64).</summary>
    internal static bool TryGetEmbeddedIPv4(ReadOnlySpan<byte> v6, out ReadOnlySpan<byte> v4)
    {
        v4 = default;
        if (v6.Length != 16)
        {
            return false;
        }

        ReadOnlySpan<byte> first10 = v6[..10];
        bool zeroPrefix = !first10.ContainsAnyExcept((byte)0);
        bool mapped = zeroPrefix && v6[10] == 0xff && v6[11] == 0xff;
        bool compatible = zeroPrefix && v6[10] == 0 && v6[11] == 0
            // ::/128 and ::1/128 are themselves, not IPv4-compatible 0.0.0.0 and 0.0.0.1.
            && (v6[12] | v6[13] | v6[14]) != 0;
        bool nat64 = v6[0] == 0x00 && v6[1] == 0x64 && v6[2] == 0xff && v6[3] == 0x9b && !v6[4..12].ContainsAnyExcept((byte)0);
        if (mapped || compatible || nat64)
        {
            v4 = v6[12..];
            return true;
        }

        return false;
    }

    private readonly struct Rule
    {
        private readonly byte[] _prefix;

        private Rule(byte[] prefix, int prefixLength, bool allow)
        {
            _prefix = prefix;
            PrefixLength = prefixLength;
            Allow = allow;
        }

        public int PrefixLength { get; }

        public bool Allow { get; }

        public static Rule Parse(string cidr, bool allow) => From(IPNetwork.Parse(cidr), allow);

        public static Rule From(IPNetwork network, bool allow)
        {
            IPAddress baseAddress = network.BaseAddress;
            int prefixLength = network.PrefixLength;

            // A rule written for an IPv4-mapped IPv6 network (::ffff:10.0.0.0/104) is a rule about IPv4.
            if (baseAddress.AddressFamily == AddressFamily.InterNetworkV6 && baseAddress.IsIPv4MappedToIPv6 && prefixLength >= 96)
            {
                baseAddress = baseAddress.MapToIPv4();
                prefixLength -= 96;
            }

            return new Rule(baseAddress.GetAddressBytes(), prefixLength, allow);
        }

        public bool Matches(ReadOnlySpan<byte> address)
        {
            if (address.Length != _prefix.Length)
            {
                return false;
            }

            int fullBytes = PrefixLength / 8;
            if (!address[..fullBytes].SequenceEqual(_prefix.AsSpan(0, fullBytes)))
            {
                return false;
            }

            int remainingBits = PrefixLength % 8;
            if (remainingBits == 0)
            {
                return true;
            }

            int mask = 0xff << (8 - remainingBits) & 0xff;
            return (address[fullBytes] & mask) == (_prefix[fullBytes] & mask);
        }
    }
}
