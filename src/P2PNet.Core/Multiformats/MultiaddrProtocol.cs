using System.Collections.Frozen;

namespace P2PNet.Multiformats;

/// <summary>A protocol that can appear in a multiaddr, from the multiformats protocol table.</summary>
public sealed class MultiaddrProtocol
{
    private MultiaddrProtocol(string name, int code, MultiaddrValueKind kind, int size = 0)
    {
        Name = name;
        Code = code;
        Kind = kind;
        Size = size;
    }

    /// <summary>The text name, e.g. <c>tcp</c>.</summary>
    public string Name { get; }

    /// <summary>The multicodec, e.g. 0x06 for tcp.</summary>
    public int Code { get; }

    /// <summary>How the value is carried.</summary>
    public MultiaddrValueKind Kind { get; }

    /// <summary>The value's size in bytes when <see cref="Kind"/> is <see cref="MultiaddrValueKind.Fixed"/>.</summary>
    public int Size { get; }

#pragma warning disable CS1591 // the names document themselves; see the multiformats protocol table
    public static readonly MultiaddrProtocol Ip4 = new("ip4", 0x04, MultiaddrValueKind.Fixed, 4);
    public static readonly MultiaddrProtocol Tcp = new("tcp", 0x06, MultiaddrValueKind.Fixed, 2);
    public static readonly MultiaddrProtocol Dccp = new("dccp", 0x21, MultiaddrValueKind.Fixed, 2);
    public static readonly MultiaddrProtocol Ip6 = new("ip6", 0x29, MultiaddrValueKind.Fixed, 16);
    public static readonly MultiaddrProtocol Ip6Zone = new("ip6zone", 0x2a, MultiaddrValueKind.LengthPrefixed);
    public static readonly MultiaddrProtocol Dns = new("dns", 0x35, MultiaddrValueKind.LengthPrefixed);
    public static readonly MultiaddrProtocol Dns4 = new("dns4", 0x36, MultiaddrValueKind.LengthPrefixed);
    public static readonly MultiaddrProtocol Dns6 = new("dns6", 0x37, MultiaddrValueKind.LengthPrefixed);
    public static readonly MultiaddrProtocol DnsAddr = new("dnsaddr", 0x38, MultiaddrValueKind.LengthPrefixed);
    public static readonly MultiaddrProtocol Sctp = new("sctp", 0x84, MultiaddrValueKind.Fixed, 2);
    public static readonly MultiaddrProtocol Udp = new("udp", 0x0111, MultiaddrValueKind.Fixed, 2);
    public static readonly MultiaddrProtocol P2pWebRtcDirect = new("p2p-webrtc-direct", 0x0114, MultiaddrValueKind.None);
    public static readonly MultiaddrProtocol Utp = new("utp", 0x012e, MultiaddrValueKind.None);
    public static readonly MultiaddrProtocol Udt = new("udt", 0x012d, MultiaddrValueKind.None);
    public static readonly MultiaddrProtocol Unix = new("unix", 0x0190, MultiaddrValueKind.Path);
    public static readonly MultiaddrProtocol P2p = new("p2p", 0x01a5, MultiaddrValueKind.LengthPrefixed);
    public static readonly MultiaddrProtocol Onion = new("onion", 0x01bc, MultiaddrValueKind.Fixed, 12);
    public static readonly MultiaddrProtocol Onion3 = new("onion3", 0x01bd, MultiaddrValueKind.Fixed, 37);
    public static readonly MultiaddrProtocol Garlic64 = new("garlic64", 0x01be, MultiaddrValueKind.LengthPrefixed);
    public static readonly MultiaddrProtocol Tls = new("tls", 0x01c0, MultiaddrValueKind.None);
    public static readonly MultiaddrProtocol Sni = new("sni", 0x01c1, MultiaddrValueKind.LengthPrefixed);
    public static readonly MultiaddrProtocol Noise = new("noise", 0x01c6, MultiaddrValueKind.None);
    public static readonly MultiaddrProtocol Quic = new("quic", 0x01cc, MultiaddrValueKind.None);
    public static readonly MultiaddrProtocol QuicV1 = new("quic-v1", 0x01cd, MultiaddrValueKind.None);
    public static readonly MultiaddrProtocol WebTransport = new("webtransport", 0x01d1, MultiaddrValueKind.None);
    public static readonly MultiaddrProtocol Certhash = new("certhash", 0x01d2, MultiaddrValueKind.LengthPrefixed);
    public static readonly MultiaddrProtocol Ws = new("ws", 0x01dd, MultiaddrValueKind.None);
    public static readonly MultiaddrProtocol Wss = new("wss", 0x01de, MultiaddrValueKind.None);
    public static readonly MultiaddrProtocol P2pWebSocketStar = new("p2p-websocket-star", 0x01df, MultiaddrValueKind.None);
    public static readonly MultiaddrProtocol Http = new("http", 0x01e0, MultiaddrValueKind.None);
    public static readonly MultiaddrProtocol Https = new("https", 0x01bb, MultiaddrValueKind.None);
    public static readonly MultiaddrProtocol P2pCircuit = new("p2p-circuit", 0x0122, MultiaddrValueKind.None);
    public static readonly MultiaddrProtocol WebRtcDirect = new("webrtc-direct", 0x0118, MultiaddrValueKind.None);
    public static readonly MultiaddrProtocol WebRtc = new("webrtc", 0x0119, MultiaddrValueKind.None);
    public static readonly MultiaddrProtocol Memory = new("memory", 0x0309, MultiaddrValueKind.Fixed, 8);
#pragma warning restore CS1591

    private static readonly MultiaddrProtocol[] All =
    [
        Ip4, Tcp, Dccp, Ip6, Ip6Zone, Dns, Dns4, Dns6, DnsAddr, Sctp, Udp, P2pWebRtcDirect, Utp, Udt, Unix, P2p, Onion, Onion3,
        Garlic64, Tls, Sni, Noise, Quic, QuicV1, WebTransport, Certhash, Ws, Wss, P2pWebSocketStar, Http, Https, P2pCircuit,
        WebRtcDirect, WebRtc, Memory,
    ];

    private static readonly FrozenDictionary<string, MultiaddrProtocol> ByName =
        All.Concat([new MultiaddrProtocol("ipfs", 0x01a5, MultiaddrValueKind.LengthPrefixed)])
           .ToFrozenDictionary(p => p.Name, p => p.Name == "ipfs" ? P2p : p, StringComparer.Ordinal);

    private static readonly FrozenDictionary<int, MultiaddrProtocol> ByCode = All.ToFrozenDictionary(p => p.Code);

    /// <summary>Looks a protocol up by its text name (<c>ipfs</c> is read as <c>p2p</c>).</summary>
    public static bool TryGet(string name, out MultiaddrProtocol protocol) => ByName.TryGetValue(name, out protocol!);

    /// <summary>Looks a protocol up by its multicodec.</summary>
    public static bool TryGet(int code, out MultiaddrProtocol protocol) => ByCode.TryGetValue(code, out protocol!);

    /// <summary>The protocol's name.</summary>
    public override string ToString() => Name;
}
