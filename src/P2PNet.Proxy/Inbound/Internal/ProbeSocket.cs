using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using P2PNet.Host.Internal;

namespace P2PNet.Proxy.Inbound.Internal;

/// <summary>
/// A probe socket of the inbound-proxy design: it proves to a requestor that the proxy owns a public endpoint by
/// answering the token the requestor gave. Over TCP it is a minimal HTTP/1.1 server (<c>GET /?RequestorId=&lt;id&gt;</c>
/// answers the token as <c>text/plain</c>, then closes); over UDP a datagram holding a requestor id is answered with a
/// datagram holding its token. Several (requestor, token) pairs share a socket.
/// </summary>
/// <remarks>Hostile input is bounded: a request head of at most <see cref="MaxHead"/> bytes within
/// <see cref="InboundProxyOptions.ProbeRequestTimeout"/>, at most <see cref="InboundProxyOptions.MaxConnectionsPerSource"/>
/// connections per source (the proxy's limiter), and unknown ids over UDP get no answer (no reflection to spoofed
/// sources beyond the pairs the operator registered).</remarks>
internal sealed class ProbeSocket : IAsyncDisposable
{
    /// <summary>The longest request head read; longer ones are answered 431 and closed.</summary>
    public const int MaxHead = 4096;

    /// <summary>Strict UTF-8 (invalid bytes throw): a datagram that is not text names no requestor.</summary>
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    private readonly List<InboundProbe> _probes = [];
    private readonly InboundProxyOptions _options;
    private readonly SourceLimiter _sources;
    private readonly ILogger _logger;
    private readonly TaskTracker _tasks = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Socket _socket;
    private Task? _loop;

    public ProbeSocket(InboundProtocol protocol, IPEndPoint endPoint, InboundProxyOptions options, SourceLimiter sources, ILogger logger)
    {
        Protocol = protocol;
        EndPoint = endPoint;
        _options = options;
        _sources = sources;
        _logger = logger;
        _socket = protocol == InboundProtocol.Tcp
            ? new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
            : new Socket(endPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
    }

    public InboundProtocol Protocol { get; }

    public IPEndPoint EndPoint { get; }

    public IReadOnlyList<InboundProbe> Probes
    {
        get
        {
            lock (_probes)
            {
                return [.. _probes];
            }
        }
    }

    /// <summary>Adds a pair; false when the socket holds <see cref="InboundProxyOptions.MaxProbesPerSocket"/> already.
    /// Adding a pair that is there already changes nothing.</summary>
    public bool Add(InboundProbe probe)
    {
        lock (_probes)
        {
            if (_probes.Contains(probe))
            {
                return true;
            }
            if (_probes.Count >= _options.MaxProbesPerSocket)
            {
                return false;
            }
            _probes.Add(probe);
            return true;
        }
    }

    /// <summary>Removes the requestor's pairs (all, or the one with <paramref name="token"/>); the count removed.</summary>
    public int Remove(string requestorId, string? token)
    {
        lock (_probes)
        {
            return _probes.RemoveAll(p => p.RequestorId == requestorId && (token is null || p.Token == token));
        }
    }

    /// <summary>The requestor's token (the latest given, when it registered several).</summary>
    public string? TokenOf(string requestorId)
    {
        lock (_probes)
        {
            return _probes.LastOrDefault(p => p.RequestorId == requestorId)?.Token;
        }
    }

    public void Start()
    {
        _socket.Bind(EndPoint);
        if (Protocol == InboundProtocol.Tcp)
        {
            _socket.Listen(128);
            _loop = AcceptAsync(_stopping.Token);
        }
        else
        {
            _loop = AnswerDatagramsAsync(_stopping.Token);
        }
    }

    private async Task AcceptAsync(CancellationToken cancellationToken)
    {
        var acceptor = new P2PNet.Transports.SocketAcceptor(_socket, _logger);
        while (await acceptor.AcceptAsync(cancellationToken).ConfigureAwait(false) is { } socket)
        {
            if (socket.RemoteEndPoint is not IPEndPoint client || _sources.TryOpen(client.Address) != SourceVerdict.Allowed)
            {
                InboundLog.ProbeRejected(_logger, socket.RemoteEndPoint?.ToString() ?? "?", "per-source limit");
                socket.Dispose();
                continue;
            }
            _tasks.Track(AnswerAsync(socket, client, cancellationToken));
        }
    }

    private async Task AnswerAsync(Socket socket, IPEndPoint client, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(MaxHead);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.ProbeRequestTimeout);
            int length = 0;
            int end;
            while ((end = buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8)) < 0)
            {
                if (length == MaxHead)
                {
                    await RespondAsync(socket, 431, "request head too large", timeout.Token).ConfigureAwait(false);
                    return;
                }
                int read = await socket.ReceiveAsync(buffer.AsMemory(length, MaxHead - length), SocketFlags.None, timeout.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    return; // left without a request
                }
                length += read;
            }
            var (status, body) = Answer(Encoding.ASCII.GetString(buffer, 0, end));
            if (status != 200)
            {
                InboundLog.ProbeRejected(_logger, client.ToString(), body);
            }
            await RespondAsync(socket, status, body, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            InboundLog.ProbeRejected(_logger, client.ToString(), e is OperationCanceledException ? "no request in time" : e.Message);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            socket.Dispose();
            _sources.Close(client.Address);
        }
    }

    /// <summary>The status and body for a request head (request line and headers, without the blank line).</summary>
    internal (int Status, string Body) Answer(string head)
    {
        int lineEnd = head.IndexOf("\r\n", StringComparison.Ordinal);
        string[] requestLine = (lineEnd < 0 ? head : head[..lineEnd]).Split(' ');
        if (requestLine.Length != 3 || !requestLine[2].StartsWith("HTTP/1.", StringComparison.Ordinal) || !requestLine[1].StartsWith('/'))
        {
            return (400, "malformed request line");
        }
        if (requestLine[0] != "GET")
        {
            return (405, "only GET is served");
        }
        string target = requestLine[1];
        int query = target.IndexOf('?', StringComparison.Ordinal);
        if (target[..(query < 0 ? target.Length : query)] != "/")
        {
            return (404, "not found");
        }
        string? requestor = null;
        if (query >= 0)
        {
            foreach (string pair in target[(query + 1)..].Split('&'))
            {
                int equals = pair.IndexOf('=', StringComparison.Ordinal);
                if (equals > 0 && pair[..equals] == "RequestorId")
                {
                    // Malformed escapes stay as they are (an id nobody registered): 404, not an error.
                    requestor = Uri.UnescapeDataString(pair[(equals + 1)..].Replace('+', ' '));
                }
            }
        }
        if (string.IsNullOrEmpty(requestor))
        {
            return (400, "give ?RequestorId=<id>");
        }
        return TokenOf(requestor) is { } token ? (200, token) : (404, "unknown RequestorId");
    }

    private static async Task RespondAsync(Socket socket, int status, string body, CancellationToken cancellationToken)
    {
        string reason = status switch
        {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Request Header Fields Too Large",
        };
        string head = $"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\n"
            + (status == 405 ? "Allow: GET\r\n" : "") + "Connection: close\r\n\r\n";
        await socket.SendAsync(Encoding.UTF8.GetBytes(head + body), SocketFlags.None, cancellationToken).ConfigureAwait(false);
        socket.Shutdown(SocketShutdown.Send);
    }

    private async Task AnswerDatagramsAsync(CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(MaxHead);
        EndPoint any = new IPEndPoint(_socket.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                SocketReceiveFromResult received;
                try
                {
                    received = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any, cancellationToken).ConfigureAwait(false);
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.MessageSize)
                {
                    continue;
                }
                string requestor;
                try
                {
                    requestor = StrictUtf8.GetString(buffer, 0, received.ReceivedBytes).Trim();
                }
                catch (DecoderFallbackException)
                {
                    InboundLog.ProbeRejected(_logger, received.RemoteEndPoint.ToString() ?? "?", "datagram is not UTF-8");
                    continue;
                }
                if (requestor.Length == 0 || TokenOf(requestor) is not { } token)
                {
                    InboundLog.ProbeRejected(_logger, received.RemoteEndPoint.ToString() ?? "?", "unknown RequestorId");
                    continue;
                }
                await _socket.SendToAsync(Encoding.UTF8.GetBytes(token), SocketFlags.None, received.RemoteEndPoint, cancellationToken)
                    .ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
        await _tasks.WhenAllAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        _stopping.Dispose();
    }
}
