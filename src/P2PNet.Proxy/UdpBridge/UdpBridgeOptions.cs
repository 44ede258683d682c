using System.Net;

namespace P2PNet.Proxy.UdpBridge;

/// <summary>
/// Limits, policy and addresses of the WebSocket-to-UDP bridge. Every member has a default fit for a bridge exposed to
/// the public internet; bind through <c>services.AddUdpBridge(options => …)</c>.
/// </summary>
/// <remarks>
/// <para>Clients are also limited per address: an IPv4 address, or an IPv6 /64 (what one subscriber usually holds),
/// counts as one address for <see cref="MaxClientsPerAddress"/>, <see cref="MaxPendingHandshakesPerAddress"/> and the
/// per-address rates, so one host cannot take every client slot or multiply the per-client rate by opening more
/// websockets.</para>
/// <para>Rate limits apply per client and per direction (browser → UDP and UDP → browser, each with its own buckets).
/// A datagram over a limit, or to or from a refused address, is dropped and counted in the
/// <c>p2pnet.bridge.datagrams.dropped</c> metric; the websocket stays open, as a UDP path that loses packets would.</para>
/// </remarks>
public sealed class UdpBridgeOptions
{
    /// <summary>The largest IPv4/IPv6 UDP payload.</summary>
    public const int MaxUdpPayload = 65_507;

    /// <summary>
    /// Most concurrent clients; one more is accepted and closed at once with close code 1013 (try again later).
    /// Each client holds two file descriptors (its TCP connection and its UDP socket). Default 10,000.
    /// </summary>
    public int MaxClients { get; set; } = 10_000;

    /// <summary>
    /// Most concurrent clients from one address (an IPv4 address or an IPv6 /64); one more is accepted and closed at
    /// once with close code 1013. Sized for a household or office behind one NAT. Default 64.
    /// </summary>
    public int MaxClientsPerAddress { get; set; } = 64;

    /// <summary>
    /// Datagrams per second from all clients of one address together (IPv4 address or IPv6 /64), browser → UDP, with a
    /// burst of one second's worth; 0 for no limit. Caps what one host can send at any target however many websockets
    /// it opens. Default 4,000.
    /// </summary>
    public int MaxDatagramsPerSecondPerAddress { get; set; } = 4_000;

    /// <summary>
    /// Payload bytes per second from all clients of one address together, browser → UDP, with a burst of one second's
    /// worth; 0 for no limit. Must be at least <see cref="MaxDatagramSize"/> when set. Default 4 MiB.
    /// </summary>
    public int MaxBytesPerSecondPerAddress { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// Most connections of the standalone <see cref="UdpBridgeServer"/> still in their WebSocket opening handshake
    /// (connected, upgrade not yet answered); one more gets HTTP 503 without its request being read. Default 1,000.
    /// </summary>
    /// <remarks>Inside an ASP.NET Core application Kestrel runs the HTTP handshake; bound it with Kestrel's own limits
    /// (<c>MaxConcurrentConnections</c>, <c>RequestHeadersTimeout</c>).</remarks>
    public int MaxPendingHandshakes { get; set; } = 1_000;

    /// <summary>
    /// Most connections from one address (IPv4 address or IPv6 /64) in their opening handshake at once; one more gets
    /// HTTP 503 without its request being read. Default 8.
    /// </summary>
    public int MaxPendingHandshakesPerAddress { get; set; } = 8;

    /// <summary>
    /// Deadline for the standalone server's opening handshake, from connection to the 101 response: a client that has
    /// not sent its whole request head by then gets HTTP 408 and is disconnected (slow-loris protection). Default 10 seconds.
    /// </summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Largest datagram payload in bytes, either direction; 1 to <see cref="MaxUdpPayload"/>.
    /// A larger browser message closes the websocket with 1009 (message too big); a larger inbound UDP datagram is
    /// dropped. Default 1472 (an Ethernet MTU less the IPv4 and UDP headers; discv5 packets are at most 1280).
    /// </summary>
    public int MaxDatagramSize { get; set; } = 1472;

    /// <summary>Datagrams per second per client and per direction, with a burst of one second's worth; 0 for no limit. Default 1,000.</summary>
    public int MaxDatagramsPerSecond { get; set; } = 1_000;

    /// <summary>
    /// Payload bytes per second per client and per direction, with a burst of one second's worth; 0 for no limit.
    /// Must be at least <see cref="MaxDatagramSize"/> when set. Default 1 MiB.
    /// </summary>
    public int MaxBytesPerSecond { get; set; } = 1024 * 1024;

    /// <summary>
    /// A client that relays no datagram in either direction for this long is closed with 1000 and reason "idle timeout".
    /// <see cref="Timeout.InfiniteTimeSpan"/> disables it. Default 5 minutes.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long the bridge waits for a browser to answer its close frame before it aborts the connection; also bounds a
    /// graceful shutdown. Default 5 seconds.
    /// </summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Interval of WebSocket pings that keep intermediaries from dropping a quiet connection; a browser that does not
    /// answer within the same interval is disconnected. <see cref="TimeSpan.Zero"/> disables pings. Default 30 seconds.
    /// </summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Origins (<c>scheme://host[:port]</c>) of web pages allowed to connect; <c>*</c> allows any. Empty (the default)
    /// allows any origin and requests without one. When not empty, a request without a listed Origin gets HTTP 403.
    /// </summary>
    public IList<string> AllowedOrigins { get; } = [];

    /// <summary>
    /// When set, a client must present this token, otherwise HTTP 401. Default none. Three forms are accepted:
    /// the header <c>Authorization: Bearer TOKEN</c>; since browsers cannot set headers on a websocket, a
    /// <c>Sec-WebSocket-Protocol</c> entry <c>p2pnet.token.TOKEN</c> offered beside the protocol <c>p2pnet.udp</c>
    /// (<c>new WebSocket(url, ["p2pnet.udp", "p2pnet.token." + token])</c>; the bridge selects <c>p2pnet.udp</c>, never
    /// the token entry, and the token must then consist of HTTP token characters); or the query parameter
    /// <c>access_token=TOKEN</c>, which the bridge redacts from the request but proxies and the host's request log may
    /// still record.
    /// </summary>
    public string? BearerToken { get; set; }

    /// <summary>
    /// Networks clients may exchange datagrams with even though the default policy refuses them (for example
    /// <c>127.0.0.0/8</c> for local testing). The most specific matching network among <see cref="AllowedNetworks"/>
    /// and <see cref="DeniedNetworks"/> decides, deny winning a tie. Default empty.
    /// </summary>
    public IList<IPNetwork> AllowedNetworks { get; } = [];

    /// <summary>
    /// Networks clients may not exchange datagrams with, in addition to the default policy, which refuses loopback,
    /// private, shared (CGNAT), link-local, multicast, reserved and unspecified addresses. Default empty.
    /// </summary>
    public IList<IPNetwork> DeniedNetworks { get; } = [];

    /// <summary>
    /// Local address each client's UDP socket binds to (port chosen by the system). The default,
    /// <see cref="IPAddress.IPv6Any"/>, is a dual-mode socket reaching IPv4 and IPv6; an IPv4 address limits clients to IPv4.
    /// </summary>
    public IPAddress UdpBindAddress { get; set; } = IPAddress.IPv6Any;

    /// <summary>
    /// Address announced to the browser as its public UDP endpoint, for a bridge behind NAT or a load balancer.
    /// Default: <see cref="UdpBindAddress"/> if it is a specific address, else the local address the browser's
    /// connection arrived on.
    /// </summary>
    public IPAddress? ExternalAddress { get; set; }

    /// <summary>
    /// Batch datagrams with <c>sendmmsg</c>/<c>recvmmsg</c> where the platform has them (64-bit Linux); when false,
    /// every datagram takes a managed socket call. Internal: the tests run both paths.
    /// </summary>
    internal bool UseBatchedSystemCalls { get; set; } = true;

    /// <summary>The clock of timeouts and rate limits; <see langword="null"/> for the one in DI. Internal: for tests.</summary>
    internal TimeProvider? TimeProvider { get; set; }
}
