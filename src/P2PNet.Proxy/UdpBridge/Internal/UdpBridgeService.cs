using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PNet.Networking.Internal;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>
/// The bridge itself: admits WebSocket requests, runs one <see cref="BridgeSession"/> per client, sweeps idle and
/// unresponsive sessions on one shared timer and closes every session on shutdown.
/// </summary>
/// <remarks>
/// Registered as a singleton and as a hosted lifecycle service, so <see cref="StoppingAsync"/> runs before the
/// server stops accepting and waiting for requests. Thread-safe.
/// </remarks>
internal sealed partial class UdpBridgeService : IHostedLifecycleService, IDisposable
{
    /// <summary>The subprotocol a client may offer, and the bridge then selects: <c>p2pnet.udp</c>.</summary>
    internal const string SubProtocol = "p2pnet.udp";

    /// <summary>A <c>Sec-WebSocket-Protocol</c> entry starting so carries the bearer token; never selected.</summary>
    internal const string TokenSubProtocolPrefix = "p2pnet.token.";

    /// <summary>The query parameter carrying the bearer token, and its value once redacted.</summary>
    internal const string AccessTokenParameter = "access_token";

    private const string Redacted = "redacted";

    private readonly ConcurrentDictionary<long, BridgeSession> _sessions = new();

    // SHA-256 of the token: comparing hashes takes the same time whatever the length of the guess.
    private readonly byte[]? _tokenHash;
    private readonly IPAddress _udpBindAddress;
    private readonly Lock _timerLock = new();
    private ITimer? _sweeper;
    private long _nextSessionId;
    private int _clientCount;
    private volatile bool _stopping;
    private TaskCompletionSource? _allClosed;

    public UdpBridgeService(IOptions<UdpBridgeOptions> options, TimeProvider timeProvider, IMeterFactory meterFactory, ILogger<UdpBridgeService> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options.Value;
        TimeProvider = Options.TimeProvider ?? timeProvider;
        Logger = logger;
        Addresses = new ClientAddressTable(Options, TimeProvider);
        Refusals = new RefusalLog(logger, TimeProvider);
        Metrics = new UdpBridgeMetrics(meterFactory);
        Policy = new AddressPolicy(Options.AllowedNetworks, Options.DeniedNetworks);
        MaxDatagramSize = Options.MaxDatagramSize;
        MaxDatagramsPerSecond = Options.MaxDatagramsPerSecond;
        MaxBytesPerSecond = Options.MaxBytesPerSecond;
        UseBatchedSystemCalls = Options.UseBatchedSystemCalls;
        _tokenHash = Options.BearerToken is { Length: > 0 } token ? SHA256.HashData(Encoding.UTF8.GetBytes(token)) : null;
        _udpBindAddress = Options.UdpBindAddress.AddressFamily == AddressFamily.InterNetworkV6 && !Socket.OSSupportsIPv6
            ? IPAddress.Any
            : Options.UdpBindAddress;
    }

    public UdpBridgeOptions Options { get; }

    public TimeProvider TimeProvider { get; }

    public ILogger Logger { get; }

    public UdpBridgeMetrics Metrics { get; }

    public AddressPolicy Policy { get; }

    /// <summary>Per-address handshakes, clients and shared rate limits.</summary>
    public ClientAddressTable Addresses { get; }

    /// <summary>Refusals, logged at a bounded rate.</summary>
    public RefusalLog Refusals { get; }

    // Copies of the hot option values, read per datagram.
    public int MaxDatagramSize { get; }

    public int MaxDatagramsPerSecond { get; }

    public int MaxBytesPerSecond { get; }

    /// <summary>Whether sessions batch datagrams with <c>sendmmsg</c>/<c>recvmmsg</c> where supported.</summary>
    public bool UseBatchedSystemCalls { get; }

    /// <summary>Clients connected now.</summary>
    public int ClientCount => Volatile.Read(ref _clientCount);

    /// <summary>Handles one request to the bridge's path: admission checks, then the session until it ends.</summary>
    public async Task HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        string? remote = context.Connection.RemoteIpAddress?.ToString();

        if (!context.WebSockets.IsWebSocketRequest)
        {
            await RejectAsync(context, new Refusal(StatusCodes.Status400BadRequest, "not_websocket", "This endpoint accepts WebSocket requests only."))
                .ConfigureAwait(false);
            return;
        }

        context.Request.Query.TryGetValue(AccessTokenParameter, out StringValues accessToken);
        if (accessToken.Count > 0)
        {
            // Whatever logs the request from here on (the host's "request finished" line, later middleware) sees no token.
            context.Request.QueryString = new QueryString(RedactAccessToken(context.Request.QueryString.Value));
        }

        IList<string> protocols = context.WebSockets.WebSocketRequestedProtocols;
        Refusal? refusal = Admit(
            context.Request.Headers.Origin.Count == 1 ? context.Request.Headers.Origin[0] : null,
            context.Request.Headers.Authorization.Count == 1 ? context.Request.Headers.Authorization[0] : null,
            protocols,
            accessToken.Count == 1 ? accessToken[0] : null);
        if (refusal is not null)
        {
            await RejectAsync(context, refusal).ConfigureAwait(false);
            return;
        }

        var acceptContext = new WebSocketAcceptContext
        {
            DangerousEnableCompression = false,
            KeepAliveInterval = Options.KeepAliveInterval,
            KeepAliveTimeout = KeepAliveTimeout,
            SubProtocol = SelectSubProtocol(protocols),
        };

        ClientAddress? address = TryEnterClient(context.Connection.RemoteIpAddress, out string turnAway);
        if (address is null)
        {
            using WebSocket turnedAway = await context.WebSockets.AcceptWebSocketAsync(acceptContext).ConfigureAwait(false);
            await TurnAwayAsync(turnedAway, turnAway).ConfigureAwait(false);
            return;
        }

        try
        {
            WebSocket webSocket = await context.WebSockets.AcceptWebSocketAsync(acceptContext).ConfigureAwait(false);
            await RunSessionAsync(webSocket, context.Connection.LocalIpAddress, remote, address).ConfigureAwait(false);
        }
        finally
        {
            ExitClient(address);
        }
    }

    /// <summary>Pong deadline for keep-alive pings: one interval, or none when pings are off.</summary>
    internal TimeSpan KeepAliveTimeout => Options.KeepAliveInterval > TimeSpan.Zero ? Options.KeepAliveInterval : Timeout.InfiniteTimeSpan;

    /// <summary>
    /// The admission checks every request passes before its upgrade: origin, token, shutdown.
    /// </summary>
    /// <param name="origin">The Origin header, if one.</param>
    /// <param name="authorization">The Authorization header, if one.</param>
    /// <param name="protocols">The offered subprotocols (<c>Sec-WebSocket-Protocol</c> entries).</param>
    /// <param name="accessToken">The <c>access_token</c> query parameter, if one.</param>
    /// <returns>Why the request is refused, or <see langword="null"/> to admit it.</returns>
    internal Refusal? Admit(string? origin, string? authorization, IEnumerable<string> protocols, string? accessToken)
    {
        Refusal? refusal =
            !IsOriginAllowed(origin) ? new Refusal(StatusCodes.Status403Forbidden, "origin", "This origin may not use the bridge.")
            : !IsAuthorized(authorization, protocols, accessToken) ? new Refusal(StatusCodes.Status401Unauthorized, "unauthorized", "A valid bearer token is required.")
            : _stopping ? new Refusal(StatusCodes.Status503ServiceUnavailable, "shutting_down", "The bridge is shutting down.")
            : null;
        return refusal;
    }

    /// <summary>Records a refusal in metrics and logs.</summary>
    internal void CountRefusal(Refusal refusal, string? remote) => CountRefusal(refusal.Reason, remote);

    /// <summary>Records a refusal with metric tag <paramref name="reason"/>; logged at a bounded rate.</summary>
    internal void CountRefusal(string reason, string? remote)
    {
        Metrics.Rejected(reason);
        Refusals.Refused(remote, reason);
    }

    /// <summary>
    /// Takes a client slot, in total and for the client's address; <see langword="null"/> (counted and logged) when
    /// either is full.
    /// </summary>
    /// <param name="remote">The client's address.</param>
    /// <param name="turnAway">When refused, the close reason telling the browser why.</param>
    /// <returns>The address's entry, to give back to <see cref="ExitClient"/>.</returns>
    internal ClientAddress? TryEnterClient(IPAddress? remote, out string turnAway)
    {
        turnAway = string.Empty;
        if (Interlocked.Increment(ref _clientCount) > Options.MaxClients)
        {
            Interlocked.Decrement(ref _clientCount);
            CountRefusal("max_clients", remote?.ToString());
            turnAway = $"bridge is full ({Options.MaxClients} clients); try again later";
            return null;
        }

        ClientAddress? address = Addresses.TryAddClient(remote);
        if (address is null)
        {
            ExitClientCount();
            CountRefusal("max_clients_per_address", remote?.ToString());
            turnAway = $"too many clients from your address ({Options.MaxClientsPerAddress}); try again later";
        }

        return address;
    }

    /// <summary>Releases the slots taken by <see cref="TryEnterClient"/>.</summary>
    internal void ExitClient(ClientAddress address)
    {
        Addresses.RemoveClient(address);
        ExitClientCount();
    }

    /// <summary>
    /// The subprotocol to select: <see cref="SubProtocol"/> when offered, else none. A token entry is never echoed back.
    /// </summary>
    internal static string? SelectSubProtocol(IEnumerable<string> offered) =>
        offered.Any(p => string.Equals(p.Trim(), SubProtocol, StringComparison.Ordinal)) ? SubProtocol : null;

    /// <summary>A raw query string (<c>?a=b&amp;access_token=T</c>) with the token's value replaced.</summary>
    internal static string RedactAccessToken(string? query)
    {
        if (string.IsNullOrEmpty(query))
        {
            return string.Empty;
        }

        bool leading = query[0] == '?';
        string[] pairs = (leading ? query[1..] : query).Split('&');
        for (int i = 0; i < pairs.Length; i++)
        {
            int equals = pairs[i].IndexOf('=', StringComparison.Ordinal);
            string key = equals < 0 ? pairs[i] : pairs[i][..equals];
            if (string.Equals(Uri.UnescapeDataString(key), AccessTokenParameter, StringComparison.Ordinal))
            {
                pairs[i] = AccessTokenParameter + "=" + Redacted;
            }
        }

        return (leading ? "?" : string.Empty) + string.Join('&', pairs);
    }

    private void ExitClientCount()
    {
        if (Interlocked.Decrement(ref _clientCount) == 0 && _stopping)
        {
            _allClosed?.TrySetResult();
        }
    }

    /// <summary>Binds the client's UDP socket and runs its session until it ends; disposes <paramref name="webSocket"/>.</summary>
    internal async Task RunSessionAsync(WebSocket webSocket, IPAddress? localAddress, string? remote, ClientAddress address, DuplexPipeStream? transport = null)
    {
        Socket udp;
        try
        {
            udp = OpenUdpSocket();
        }
        catch (SocketException e)
        {
            Logger.UdpBindFailed(remote, e);
            await CloseQuicklyAsync(webSocket, UdpBridgeCloseStatus.BridgeError, "the bridge could not open a UDP socket").ConfigureAwait(false);
            webSocket.Dispose();
            return;
        }

        long id = Interlocked.Increment(ref _nextSessionId);
        var session = new BridgeSession(id, this, webSocket, udp, address, transport);
        _sessions[id] = session;
        Metrics.ClientOpened();
        try
        {
            string announced = AnnouncedAddress(localAddress);
            int port = ((IPEndPoint)udp.LocalEndPoint!).Port;
            Logger.SessionOpened(id, remote, udp.LocalEndPoint, announced);
            if (_stopping)
            {
                session.RequestClose(UdpBridgeCloseStatus.ShuttingDown, "bridge shutting down", "shutdown");
            }

            await session.RunAsync($$"""{"address":"{{announced}}","port":{{port}}}""").ConfigureAwait(false);
        }
        finally
        {
            _sessions.TryRemove(id, out _);
            (WebSocketCloseStatus status, string description) = session.CloseSent;
            Logger.SessionClosed(id, session.CloseReason, status, description);
            Metrics.ClientClosed(session.CloseReason);
            session.Dispose();
            webSocket.Dispose();
        }
    }

    /// <summary>
    /// A full bridge still completes the upgrade so the browser learns why: a failed handshake reaches a web page as
    /// a bare error, a close frame with 1013 and a reason does not.
    /// </summary>
    internal Task TurnAwayAsync(WebSocket webSocket, string description) =>
        CloseQuicklyAsync(webSocket, UdpBridgeCloseStatus.Full, description);

    private Socket OpenUdpSocket()
    {
        var udp = new Socket(_udpBindAddress.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (_udpBindAddress.Equals(IPAddress.IPv6Any))
            {
                udp.DualMode = true;
            }

            udp.Bind(new IPEndPoint(_udpBindAddress, 0));
            return udp;
        }
        catch
        {
            udp.Dispose();
            throw;
        }
    }

    private string AnnouncedAddress(IPAddress? connectionLocalAddress)
    {
        IPAddress? address = Options.ExternalAddress;
        if (address is null && !_udpBindAddress.Equals(IPAddress.Any) && !_udpBindAddress.Equals(IPAddress.IPv6Any))
        {
            address = _udpBindAddress;
        }

        address ??= connectionLocalAddress ?? IPAddress.Loopback;
        return BridgeSession.Unmap(address).ToString();
    }

    private bool IsOriginAllowed(string? origin)
    {
        if (Options.AllowedOrigins.Count == 0)
        {
            return true;
        }

        foreach (string allowed in Options.AllowedOrigins)
        {
            if (allowed == "*" || (origin is not null && string.Equals(allowed.TrimEnd('/'), origin, StringComparison.OrdinalIgnoreCase)))
            {
                return true;
            }
        }

        return false;
    }

    private bool IsAuthorized(string? authorization, IEnumerable<string> protocols, string? accessToken)
    {
        if (_tokenHash is null)
        {
            return true;
        }

        string? presented = authorization is not null && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? authorization["Bearer ".Length..].Trim()
            : protocols.Select(p => p.Trim()).FirstOrDefault(p => p.StartsWith(TokenSubProtocolPrefix, StringComparison.Ordinal))?[TokenSubProtocolPrefix.Length..]
                ?? accessToken;
        return presented is not null && TokenMatches(presented);
    }

    /// <summary>
    /// Compares <paramref name="presented"/> with the token in constant time, whatever the lengths: both sides are
    /// SHA-256 hashes of the same length, so timing reveals neither how much of a guess was right nor the token's length.
    /// </summary>
    internal bool TokenMatches(string presented)
    {
        if (_tokenHash is null)
        {
            return true;
        }

        byte[] presentedBytes = Encoding.UTF8.GetBytes(presented);
        Span<byte> presentedHash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(presentedBytes, presentedHash);
        bool equal = CryptographicOperations.FixedTimeEquals(presentedHash, _tokenHash);
        CryptographicOperations.ZeroMemory(presentedBytes);
        CryptographicOperations.ZeroMemory(presentedHash);
        return equal;
    }

    private async Task RejectAsync(HttpContext context, Refusal refusal)
    {
        CountRefusal(refusal, context.Connection.RemoteIpAddress?.ToString());
        if (refusal.StatusCode == StatusCodes.Status401Unauthorized)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
        }

        context.Response.StatusCode = refusal.StatusCode;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(refusal.Message, context.RequestAborted).ConfigureAwait(false);
    }

    internal async Task CloseQuicklyAsync(WebSocket webSocket, WebSocketCloseStatus status, string description)
    {
        using var timeout = new CancellationTokenSource(Options.CloseTimeout, TimeProvider);
        try
        {
            await webSocket.CloseAsync(status, UdpBridgeCloseStatus.Fit(description), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
            webSocket.Abort();
        }
    }

    /// <summary>Why a request was refused before its upgrade: the HTTP status, the metric tag, the text sent back.</summary>
    internal sealed record Refusal(int StatusCode, string Reason, string Message);
}
