using System.Net;
using System.Net.Sockets;

namespace P2PNet.Networking.Internal;

/// <summary>
/// Decides which remote addresses traffic may go to (the WebSocket-to-UDP bridge's datagrams, the outbound gateway's
/// egress), working on raw address bytes so the per-packet check allocates nothing.
/// </summary>
/// <remarks>
/// <para>An address is judged by the operator's rules first: the most specific (longest prefix) rule among the allowed
/// and denied networks wins, a deny winning a tie; when no rule matches, the default refuses the special-purpose ranges
/// listed in <see cref="DefaultRefusedIPv4"/> and <see cref="DefaultRefusedIPv6"/> and allows everything else.</para>
/// <para>An IPv6 address that carries an IPv4 address (see <see cref="GetEmbeddedIPv4"/>) is judged twice, as the
/// literal IPv6 address and as each IPv4 address it leads to, and is allowed only when every judgement allows it:
/// a rule denying <c>64:ff9b::/96</c> refuses every NAT64 address, and <c>64:ff9b::10.0.0.1</c> stays refused (its
/// IPv4 address is private) even when the operator allows <c>64:ff9b::/96</c>. IPv4-mapped addresses
/// (<c>::ffff:0:0/96</c>) are the IPv4 address itself, as a dual-mode socket sends to it.</para>
/// <para>Immutable and thread-safe.</para>
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
        "192.88.99.0/24",   // 6to4 relay anycast (RFC 7526, deprecated): relays into arbitrary IPv6 networks
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
        "::ffff:0:0:0/96",  // SIIT IPv4-translated (RFC 6145): reaches the embedded IPv4 through a translator
        "64:ff9b:1::/48",   // NAT64 local-use (RFC 8215): an operator's own translator, often to private IPv4
        "2001::/32",        // Teredo (RFC 4380): tunnels to the IPv4 client and server it embeds
        "2002::/16",        // 6to4 (RFC 3056): tunnels to the IPv4 address it embeds
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
        if (address.Length == 16 && IsIPv4Mapped(address))
        {
            address = address[12..];
        }

        if (address.Length != 4 && address.Length != 16)
        {
            return false;
        }

        if (!Judge(address))
        {
            return false;
        }

        if (address.Length == 16)
        {
            Span<byte> embedded = stackalloc byte[8];
            int count = GetEmbeddedIPv4(address, embedded);
            for (int i = 0; i < count; i++)
            {
                if (!Judge(embedded.Slice(i * 4, 4)))
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>Whether a 16-byte address is IPv4-mapped (<c>::ffff:a.b.c.d</c>).</summary>
    internal static bool IsIPv4Mapped(ReadOnlySpan<byte> v6) =>
        v6.Length == 16 && !v6[..10].ContainsAnyExcept((byte)0) && v6[10] == 0xff && v6[11] == 0xff;

    /// <summary>Whether <paramref name="address"/> is allowed (allocates nothing beyond the caller's address).</summary>
    public bool IsAllowed(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<byte> bytes = stackalloc byte[16];
        return address.TryWriteBytes(bytes, out int written) && IsAllowed(bytes[..written]);
    }

    /// <summary>
    /// Writes the IPv4 addresses an IPv6 address carries, and through which a datagram to it may reach IPv4 hosts,
    /// into <paramref name="destination"/> (4 bytes each, room for two).
    /// </summary>
    /// <remarks>
    /// IPv4-compatible <c>::a.b.c.d</c> (not <c>::</c> or <c>::1</c>), SIIT <c>::ffff:0:a.b.c.d</c>, NAT64 well-known
    /// <c>64:ff9b::a.b.c.d</c> (RFC 6052), NAT64 local-use <c>64:ff9b:1::/48</c> (the /48 layout of RFC 6052 §2.2,
    /// which skips bits 64–71), 6to4 <c>2002:AABB:CCDD::/48</c>, and Teredo <c>2001:0:SSSS:SSSS:…:CCCC:CCCC</c>
    /// (server, and client stored inverted; RFC 4380 §4). IPv4-mapped addresses are handled by the caller.
    /// </remarks>
    /// <returns>How many addresses were written: 0, 1 or 2 (Teredo).</returns>
    internal static int GetEmbeddedIPv4(ReadOnlySpan<byte> v6, Span<byte> destination)
    {
        if (v6.Length != 16)
        {
            return 0;
        }

        bool firstEightZero = !v6[..8].ContainsAnyExcept((byte)0);
        if (firstEightZero && v6[8] == 0 && v6[9] == 0 && v6[10] == 0 && v6[11] == 0 && (v6[12] | v6[13] | v6[14]) != 0)
        {
            v6[12..].CopyTo(destination); // IPv4-compatible (deprecated)
            return 1;
        }

        if (firstEightZero && v6[8] == 0xff && v6[9] == 0xff && v6[10] == 0 && v6[11] == 0)
        {
            v6[12..].CopyTo(destination); // SIIT
            return 1;
        }

        if (v6[0] == 0x00 && v6[1] == 0x64 && v6[2] == 0xff && v6[3] == 0x9b)
        {
            if (!v6[4..12].ContainsAnyExcept((byte)0))
            {
                v6[12..].CopyTo(destination); // NAT64 well-known prefix
                return 1;
            }

            if (v6[4] == 0x00 && v6[5] == 0x01)
            {
                destination[0] = v6[6]; // NAT64 local-use, /48 layout
                destination[1] = v6[7];
                destination[2] = v6[9];
                destination[3] = v6[10];
                return 1;
            }

            return 0;
        }

        if (v6[0] == 0x20 && v6[1] == 0x02)
        {
            v6.Slice(2, 4).CopyTo(destination); // 6to4
            return 1;
        }

        if (v6[0] == 0x20 && v6[1] == 0x01 && v6[2] == 0 && v6[3] == 0)
        {
            v6.Slice(4, 4).CopyTo(destination); // Teredo server
            for (int i = 0; i < 4; i++)
            {
                destination[4 + i] = (byte)~v6[12 + i]; // Teredo client, stored inverted
            }

            return 2;
        }

        return 0;
    }

    /// <summary>One judgement of a literal 4- or 16-byte address: the operator's rules, then the default.</summary>
    private bool Judge(ReadOnlySpan<byte> address)
    {
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
