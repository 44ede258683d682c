using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Multiformats;

namespace P2PNet.Transports.Tcp;

/// <summary>
/// TCP: dials and listens on <c>/ip4/…/tcp/N</c> and <c>/ip6/…/tcp/N</c>, and dials <c>/dns|dns4|dns6/…/tcp/N</c>
/// (resolving the name). A trailing <c>/p2p/…</c> is allowed; anything else (e.g. <c>/ws</c>) belongs to another transport.
/// </summary>
public sealed class TcpTransport : ITransport
{
    private readonly TcpTransportOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly List<IPEndPoint> _listening = [];

    /// <summary>Creates the transport.</summary>
    /// <param name="options">Settings; the defaults when <see langword="null"/>.</param>
    /// <param name="loggerFactory">Where listeners log failing accepts; none by default.</param>
    public TcpTransport(TcpTransportOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        _options = options ?? new TcpTransportOptions();
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
    }

    /// <inheritdoc />
    public bool CanDial(Multiaddr address) => IsPlainTcp(address, allowDns: true);

    /// <inheritdoc />
    public bool CanListen(Multiaddr address) => IsPlainTcp(address, allowDns: false);

    private static bool IsPlainTcp(Multiaddr address, bool allowDns)
    {
        ArgumentNullException.ThrowIfNull(address);
        var c = address.WithoutPeerId().Components;
        if (c.Count != 2 || c[1].Protocol != MultiaddrProtocol.Tcp)
        {
            return false;
        }
        var first = c[0].Protocol;
        return first == MultiaddrProtocol.Ip4 || first == MultiaddrProtocol.Ip6
            || allowDns && (first == MultiaddrProtocol.Dns || first == MultiaddrProtocol.Dns4 || first == MultiaddrProtocol.Dns6);
    }

    /// <inheritdoc />
    public ValueTask<TransportConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken = default) =>
        DialAsync(address, _options.PortReuse, cancellationToken);

    /// <summary>Opens a raw connection to <paramref name="address"/>, from the listening port when
    /// <paramref name="reusePort"/> (and a listener of the address family is open), from an ephemeral port otherwise.
    /// AutoNAT dial-backs pass false whatever <see cref="TcpTransportOptions.PortReuse"/> says: a dial-back from the
    /// listening port could punch the very hole it is meant to test.</summary>
    internal async ValueTask<TransportConnection> DialAsync(Multiaddr address, bool reusePort, CancellationToken cancellationToken)
    {
        if (!CanDial(address))
        {
            throw new ArgumentException($"The TCP transport cannot dial {address}.", nameof(address));
        }
        IPEndPoint endPoint = await ResolveAsync(address, cancellationToken).ConfigureAwait(false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ConnectTimeout);
        try
        {
            if (reusePort && ReusableSource(endPoint) is { } source)
            {
                try
                {
                    return new SocketConnection(await ConnectAsync(endPoint, source, timeout.Token).ConfigureAwait(false), _options)
                    {
                        FromListeningPort = true,
                    };
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AddressNotAvailable)
                {
                    // That remote is already connected from the listening port (or its TIME_WAIT lingers): any port will do.
                }
            }
            return new SocketConnection(await ConnectAsync(endPoint, null, timeout.Token).ConfigureAwait(false), _options);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"Connecting to {address} timed out after {_options.ConnectTimeout.TotalSeconds:0.#} s.");
        }
        catch (SocketException e)
        {
            throw new IOException($"Cannot connect to {address}: {e.Message}", e);
        }
    }

    private async Task<Socket> ConnectAsync(IPEndPoint endPoint, IPEndPoint? source, CancellationToken cancellationToken)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = _options.NoDelay };
        try
        {
            if (source is not null)
            {
                ListeningSocket.SetReusePort(socket);
                socket.Bind(source);
            }
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The listening end point to dial <paramref name="remote"/> from: same address family, and loopback
    /// only for a loopback remote (a socket bound to 127.0.0.1 cannot reach other hosts), an unspecified address for any.</summary>
    private IPEndPoint? ReusableSource(IPEndPoint remote)
    {
        bool loopback = IPAddress.IsLoopback(remote.Address);
        lock (_listening)
        {
            foreach (var local in _listening)
            {
                if (local.AddressFamily == remote.AddressFamily
                    && (local.Address.Equals(IPAddress.Any) || local.Address.Equals(IPAddress.IPv6Any) || IPAddress.IsLoopback(local.Address) == loopback))
                {
                    return local;
                }
            }
        }
        return null;
    }

    /// <summary>
    /// The end point of an address that starts <c>/ip4|ip6|dns|dns4|dns6/…/tcp/N</c> (anything may follow, e.g.
    /// <c>/ws</c>): the IP itself, or the first address the name resolves to in the family <c>dns4</c>/<c>dns6</c> ask for.
    /// </summary>
    /// <exception cref="IOException">The name does not resolve, or resolves to no address of that family.</exception>
    internal static async ValueTask<IPEndPoint> ResolveAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        if (address.TryGetTcpEndPoint(out var endPoint))
        {
            return endPoint;
        }
        var c = address.Components;
        string host = c[0].ValueText;
        int port = int.Parse(c[1].ValueText, System.Globalization.CultureInfo.InvariantCulture);
        AddressFamily family = c[0].Protocol == MultiaddrProtocol.Dns4 ? AddressFamily.InterNetwork
            : c[0].Protocol == MultiaddrProtocol.Dns6 ? AddressFamily.InterNetworkV6 : AddressFamily.Unspecified;
        IPAddress[] addresses;
        try
        {
            addresses = await Dns.GetHostAddressesAsync(host, family, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            throw new IOException($"Cannot resolve '{host}' in {address}: {e.Message}", e);
        }
        if (addresses.Length == 0)
        {
            throw new IOException($"'{host}' in {address} resolved to no {(family == AddressFamily.Unspecified ? "" : family + " ")}address.");
        }
        return new IPEndPoint(addresses[0], port);
    }

    /// <inheritdoc />
    public ValueTask<ITransportListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken = default)
    {
        if (!CanListen(address) || !address.TryGetTcpEndPoint(out var endPoint))
        {
            throw new ArgumentException($"The TCP transport cannot listen on {address}.", nameof(address));
        }
        var socket = ListeningSocket.Open(endPoint, _options.Backlog, address, _options.PortReuse);
        var bound = (IPEndPoint)socket.LocalEndPoint!;
        if (_options.PortReuse)
        {
            lock (_listening)
            {
                _listening.Add(bound);
            }
        }
        return ValueTask.FromResult<ITransportListener>(new TcpListener(socket, _options, _loggerFactory.CreateLogger<TcpTransport>(),
            () => { lock (_listening) { _listening.Remove(bound); } }));
    }

    private sealed class TcpListener : ITransportListener
    {
        private readonly Socket _socket;
        private readonly TcpTransportOptions _options;
        private readonly AcceptBackoff _backoff;
        private readonly CancellationTokenSource _closing = new();
        private readonly Action _closed;

        public TcpListener(Socket socket, TcpTransportOptions options, ILogger logger, Action closed)
        {
            _socket = socket;
            _closed = closed;
            _options = options;
            LocalAddress = Multiaddr.FromTcpEndPoint((IPEndPoint)socket.LocalEndPoint!);
            _backoff = new AcceptBackoff(logger, LocalAddress);
        }

        public Multiaddr LocalAddress { get; }

        public async ValueTask<TransportConnection> AcceptAsync(CancellationToken cancellationToken = default)
        {
            while (true)
            {
                Socket accepted;
                try
                {
                    accepted = await _socket.AcceptAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.OperationAborted)
                {
                    throw new ObjectDisposedException(nameof(TcpListener), "The listener was closed.");
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
                {
                    continue; // the client gave up before we accepted
                }
                catch (SocketException e)
                {
                    // Out of descriptors or buffers (EMFILE, ENFILE, ENOBUFS, ENOMEM): the listener itself is fine and
                    // works again once connections close, so wait and retry rather than end the accept loop for good.
                    await BackOffAsync(e, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                if (DescriptorReserve.IsExhausted(accepted))
                {
                    // One of the process's last descriptors: shed the connection before the runtime runs out.
                    accepted.Dispose();
                    await BackOffAsync(DescriptorReserve.Exhausted(), cancellationToken).ConfigureAwait(false);
                    continue;
                }
                _backoff.Reset();
                accepted.NoDelay = _options.NoDelay;
                try
                {
                    return new SocketConnection(accepted, _options);
                }
                catch (SocketException)
                {
                    accepted.Dispose(); // the socket died between accept and setup
                }
            }
        }

        private async Task BackOffAsync(SocketException error, CancellationToken cancellationToken)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token);
            try
            {
                await _backoff.WaitAsync(error, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_closing.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new ObjectDisposedException(nameof(TcpListener), "The listener was closed.");
            }
        }

        public async ValueTask DisposeAsync()
        {
            _closed();
            await _closing.CancelAsync().ConfigureAwait(false);
            _socket.Dispose();
        }
    }
}
