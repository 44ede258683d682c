using System.Net;
using System.Net.Sockets;
using P2PNet.Multiformats;

namespace P2PNet.Vpn.Internal;

/// <summary>
/// Which advertised multiaddrs of a member are worth dialing (docs/vpn.md, "Dial addresses"). The rule, applied by the
/// coordinator to what a joiner advertises and by every member to the addresses in a table:
/// <list type="bullet">
/// <item>an unspecified IPv4 address (<c>0.0.0.0</c>, "every interface") becomes the address the peer was observed
/// from, keeping the port; an unspecified IPv6 address (<c>::</c>) likewise when the peer was seen over IPv6, else it is dropped;</item>
/// <item>loopback addresses are kept only when the peer itself is seen over loopback (the whole network then runs on one
/// machine, as in tests); otherwise they would make every member dial itself, forever;</item>
/// <item>link-local, multicast and broadcast addresses are dropped (they are meaningless away from the peer's link);</item>
/// <item>duplicates are dropped, and at most <see cref="MaxAddresses"/> are kept.</item>
/// </list>
/// Names (<c>/dns*</c>) and other non-IP addresses are kept as they are.
/// </summary>
internal static class DialAddressFilter
{
    /// <summary>At most this many addresses per member: a table must not grow because one member advertises thousands.</summary>
    public const int MaxAddresses = 16;

    /// <summary>Filters <paramref name="advertised"/> for a peer seen from <paramref name="observed"/> (null: not seen,
    /// e.g. the coordinator's own addresses, or a member's in a table whose coordinator is reached at <paramref name="observed"/>).</summary>
    public static List<Multiaddr> Filter(IEnumerable<Multiaddr> advertised, Multiaddr? observed)
    {
        IPAddress? seen = observed is null ? null : IpOf(observed);
        return Filter(advertised, seen, loopbackAllowed: seen is not null && IPAddress.IsLoopback(seen));
    }

    /// <summary>Filters <paramref name="advertised"/> for a peer seen at <paramref name="seen"/> (null: unknown, so an
    /// unspecified address is dropped), keeping loopback addresses only when <paramref name="loopbackAllowed"/>.</summary>
    public static List<Multiaddr> Filter(IEnumerable<Multiaddr> advertised, IPAddress? seen, bool loopbackAllowed)
    {
        ArgumentNullException.ThrowIfNull(advertised);
        bool onLoopback = loopbackAllowed;
        var result = new List<Multiaddr>();
        var unique = new HashSet<string>(StringComparer.Ordinal);
        foreach (var original in advertised)
        {
            if (result.Count == MaxAddresses)
            {
                break;
            }
            var address = original;
            var ip = IpOf(address);
            if (ip is not null)
            {
                if (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any))
                {
                    if (seen is null || seen.AddressFamily != ip.AddressFamily || seen.Equals(IPAddress.Any) || seen.Equals(IPAddress.IPv6Any))
                    {
                        continue;
                    }
                    address = WithIp(address, seen);
                    ip = seen;
                }
                if (!IsDialable(ip, onLoopback))
                {
                    continue;
                }
            }
            if (unique.Add(address.ToString()))
            {
                result.Add(address);
            }
        }
        return result;
    }

    /// <summary>Whether an address may be dialed: not link-local, multicast or broadcast; loopback only on a loopback network.</summary>
    public static bool IsDialable(IPAddress ip, bool onLoopback)
    {
        ArgumentNullException.ThrowIfNull(ip);
        if (ip.IsIPv4MappedToIPv6)
        {
            ip = ip.MapToIPv4();
        }
        if (IPAddress.IsLoopback(ip))
        {
            return onLoopback;
        }
        if (ip.AddressFamily == AddressFamily.InterNetwork)
        {
            byte[] b = ip.GetAddressBytes();
            bool linkLocal = b[0] == 169 && b[1] == 254;
            bool multicast = b[0] is >= 224 and <= 239;
            bool broadcast = ip.Equals(IPAddress.Broadcast);
            bool unspecified = ip.Equals(IPAddress.Any);
            return !(linkLocal || multicast || broadcast || unspecified);
        }
        return !(ip.IsIPv6LinkLocal || ip.IsIPv6Multicast || ip.Equals(IPAddress.IPv6Any));
    }

    private static IPAddress? IpOf(Multiaddr address)
    {
        if (address.TryGetValue(MultiaddrProtocol.Ip4, out string? v4) && IPAddress.TryParse(v4, out var ip4))
        {
            return ip4;
        }
        return address.TryGetValue(MultiaddrProtocol.Ip6, out string? v6) && IPAddress.TryParse(v6, out var ip6) ? ip6 : null;
    }

    private static Multiaddr WithIp(Multiaddr address, IPAddress ip)
    {
        string protocol = ip.AddressFamily == AddressFamily.InterNetwork ? "ip4" : "ip6";
        var components = address.Components.Select(c => c.Protocol.Name is "ip4" or "ip6" ? $"/{protocol}/{ip}" : c.ToString());
        return Multiaddr.Parse(string.Concat(components));
    }
}
