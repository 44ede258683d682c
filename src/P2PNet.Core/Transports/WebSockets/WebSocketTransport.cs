using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Multiformats;
using P2PNet.Transports.Tcp;
using P2PNet.Transports.WebSockets.Internal;

namespace P2PNet.Transports.WebSockets;

/// <summary>
/// WebSockets (as <c>@libp2p/websockets</c> and go-libp2p's websocket transport): listens on
/// <c>/ip4|ip6/…/tcp/N/ws</c> and dials <c>/ip4|ip6|dns|dns4|dns6/…/tcp/N/ws</c> and <c>…/wss</c>. Binary messages
/// in both directions carry the ordinary libp2p byte stream (multistream-select, Noise, Yamux).
/// A trailing <c>/p2p/…</c> is allowed.
/// </summary>
/// <remarks>Listening is plain HTTP/1.1 (no TLS): terminate <c>/wss</c> in a reverse proxy. Thread-safe.</remarks>
public sealed class WebSocketTransport : ITransport
{
    private readonly WebSocketTransportOptions _options;
    private readonly ILoggerFactory _loggerFactory;

    /// <summary>Creates the transport.</summary>
    /// <param name="options">Settings; the defaults when <see langword="null"/>.</param>
    /// <param name="loggerFactory">Where listeners log failing accepts; none by default.</param>
    public WebSocketTransport(WebSocketTransportOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        _options = options ?? new WebSocketTransportOptions();
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
    }

    /// <inheritdoc />
    public bool CanDial(Multiaddr address) => Classify(address, allowDns: true, allowSecure: true);

    /// <inheritdoc />
    public bool CanListen(Multiaddr address) => Classify(address, allowDns: false, allowSecure: false);

    private static bool Classify(Multiaddr address, bool allowDns, bool allowSecure)
    {
        ArgumentNullException.ThrowIfNull(address);
        var c = address.WithoutPeerId().Components;
        if (c.Count != 3 || c[1].Protocol != MultiaddrProtocol.Tcp)
        {
            return false;
        }
        if (c[2].Protocol != MultiaddrProtocol.Ws && !(allowSecure && c[2].Protocol == MultiaddrProtocol.Wss))
        {
            return false;
        }
        var first = c[0].Protocol;
        return first == MultiaddrProtocol.Ip4 || first == MultiaddrProtocol.Ip6
            || allowDns && (first == MultiaddrProtocol.Dns || first == MultiaddrProtocol.Dns4 || first == MultiaddrProtocol.Dns6);
    }

    /// <inheritdoc />
    public async ValueTask<TransportConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken = default)
    {
        if (!CanDial(address))
        {
            throw new ArgumentException($"The WebSocket transport cannot dial {address}.", nameof(address));
        }
        var c = address.WithoutPeerId().Components;
        bool secure = c[2].Protocol == MultiaddrProtocol.Wss;
        string host = c[0].ValueText;
        int port = int.Parse(c[1].ValueText, CultureInfo.InvariantCulture);
        string authority = c[0].Protocol == MultiaddrProtocol.Ip6 ? $"[{host}]" : host;
        var uri = new Uri($"{(secure ? "wss" : "ws")}://{authority}:{port}/");

        Socket? connected = null;
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = _options.ConnectTimeout,
            ConnectCallback = async (context, ct) =>
            {
                IPEndPoint endPoint = await TcpTransport.ResolveAsync(address, ct).ConfigureAwait(false);
                var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(endPoint, ct).ConfigureAwait(false);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
                connected = socket;
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        if (secure && _options.RemoteCertificateValidation is { } validate)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = validate;
        }
        var invoker = new HttpMessageInvoker(handler, disposeHandler: true);
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = _options.KeepAliveInterval;
        client.Options.HttpVersion = HttpVersion.Version11;
        client.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ConnectTimeout);
        try
        {
            await client.ConnectAsync(uri, invoker, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or HttpRequestException or OperationCanceledException or SocketException or IOException)
        {
            client.Dispose();
            invoker.Dispose();
            if (e is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            string why = e is OperationCanceledException ? $"timed out after {_options.ConnectTimeout.TotalSeconds:0.#} s" : e.Message;
            throw new IOException($"Cannot open a WebSocket to {address}: {why}", e);
        }
        var local = connected?.LocalEndPoint is IPEndPoint l ? WithWs(Multiaddr.FromTcpEndPoint(l), secure) : Multiaddr.Empty;
        return new WebSocketConnection(client, invoker, local, address.WithoutPeerId(), _options);
    }

    internal static Multiaddr WithWs(Multiaddr tcp, bool secure) =>
        tcp.Encapsulate(secure ? "/wss" : "/ws");

    /// <inheritdoc />
    public ValueTask<ITransportListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken = default)
    {
        if (!CanListen(address) || !address.WithoutPeerId().Decapsulate(MultiaddrProtocol.Ws).TryGetTcpEndPoint(out var endPoint))
        {
            throw new ArgumentException($"The WebSocket transport cannot listen on {address}.", nameof(address));
        }
        var socket = ListeningSocket.Open(endPoint, _options.Backlog, address);
        return ValueTask.FromResult<ITransportListener>(new WebSocketListener(socket, _options, _loggerFactory.CreateLogger<WebSocketTransport>()));
    }
}
