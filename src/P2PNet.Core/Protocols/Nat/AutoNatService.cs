using System.Diagnostics.CodeAnalysis;
using System.Net;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Host;
using P2PNet.Host.Internal;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.Nat.Internal;
using P2PNet.Protocols.Nat.Protos;

namespace P2PNet.Protocols.Nat;

/// <summary>
/// The server side of AutoNAT v2 (<c>/libp2p/autonat/2/dial-request</c>) and v1 (<c>/libp2p/autonat/1.0.0</c>),
/// libp2p/specs autonat/: dials a requesting peer back on one of its addresses so it learns whether it is reachable.
/// </summary>
/// <remarks>
/// Dial-backs are new connections from an ephemeral port (never the listening port, which could punch the hole being
/// tested). Public addresses only unless <see cref="AutoNatServiceOptions.AllowPrivateAddresses"/>; v1 dials only the
/// IP the request came from; v2 dials another IP only after the client paid
/// <see cref="AutoNatServiceOptions.DialDataBytes"/> of dial data (the amplification guard). Requests over relayed
/// connections, beyond the concurrency bound or the per-peer rate are rejected. Thread-safe.
/// </remarks>
public sealed class AutoNatService : IAsyncDisposable
{
    private readonly P2PHost _host;
    private readonly AutoNatServiceOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<PeerId, Queue<DateTimeOffset>> _recent = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _dialerGate = new(1, 1);
    private P2PHost? _dialer;
    private int _active;
    private long _dialBacks;
    private long _rejected;
    private ServiceLifecycle _lifecycle;

    /// <summary>Creates the service; nothing is served until <see cref="Start"/>.</summary>
    public AutoNatService(P2PHost host, AutoNatServiceOptions? options = null, ILogger<AutoNatService>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        _host = host;
        _options = options ?? new AutoNatServiceOptions();
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>Dial-backs made so far (successful or not).</summary>
    public long DialBacks => Interlocked.Read(ref _dialBacks);

    /// <summary>Requests refused so far (rate, concurrency, relayed connection, no dialable address, unpaid dial data).</summary>
    public long Refused => Interlocked.Read(ref _rejected);

    /// <summary>Starts serving both protocols on the host.</summary>
    public void Start()
    {
        if (!_lifecycle.TryStart(this))
        {
            return;
        }
        _host.SetStreamHandler(NatProtocols.AutoNatV2DialRequest, HandleV2Async);
        _host.SetStreamHandler(NatProtocols.AutoNatV1, HandleV1Async);
    }

    /// <summary>Stops serving; requests in progress are cancelled.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_lifecycle.TryDispose(out _))
        {
            return;
        }
        _host.RemoveStreamHandler(NatProtocols.AutoNatV2DialRequest);
        _host.RemoveStreamHandler(NatProtocols.AutoNatV1);
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _dialerGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_dialer is not null)
            {
                await _dialer.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _dialerGate.Release();
        }
        _stopping.Dispose();
    }

    /// <summary>
    /// The host dial-backs leave from: an identity of its own with no listener, as go-libp2p's server does (the spec
    /// allows another peer id: clients go by the nonce). Dial-backs from our main identity would become connections
    /// to the client that either side could pick for its own streams (a relay circuit, a reservation) just before the
    /// server closes them. It follows the main host's private network.
    /// </summary>
    private async Task<P2PHost> DialerAsync(CancellationToken cancellationToken)
    {
        await _dialerGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_lifecycle.IsDisposed, this);
            if (_dialer is null)
            {
                var options = new P2PHostOptions
                {
                    AgentVersion = _host.Options.AgentVersion,
                    HandshakeTimeout = _host.Options.HandshakeTimeout,
                    MaxConnections = Math.Max(16, _options.MaxConcurrentRequests * _options.MaxV1DialAttempts),
                };
                options.Tcp.ConnectTimeout = _options.DialBackTimeout;
                var dialer = new P2PHost(options, _host.LoggerFactory, timeProvider: _host.TimeProvider);
                await dialer.StartAsync(cancellationToken).ConfigureAwait(false);
                _dialer = dialer;
            }
            var (key, _) = _host.PrivateNetworkKeys;
            _dialer.SetPrivateNetworkKeys(key);
            return _dialer;
        }
        finally
        {
            _dialerGate.Release();
        }
    }

    private async Task HandleV2Async(P2PStream stream, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        linked.CancelAfter(_options.RequestTimeout);
        var ct = linked.Token;
        bool admitted = false;
        try
        {
            PbAutoNatV2? message = await NatMessages.ReadAsync(stream, PbAutoNatV2.Parser, ct).ConfigureAwait(false);
            if (message?.DialRequest is not { } request)
            {
                NatLog.Malformed(_logger, stream.RemotePeer, "the first message is not a DialRequest");
                stream.Abort();
                return;
            }
            admitted = Admit(stream);
            if (!admitted)
            {
                await RespondV2Async(stream, PbDialResponse.Types.ResponseStatus.ERequestRejected, 0, PbDialStatus.Unused, ct).ConfigureAwait(false);
                return;
            }
            var addresses = NatMessages.Addresses(request.Addrs, 64);
            int index = addresses.FindIndex(a => a is not null && CanDialBack(a, out _));
            if (index < 0)
            {
                Interlocked.Increment(ref _rejected);
                await RespondV2Async(stream, PbDialResponse.Types.ResponseStatus.EDialRefused, 0, PbDialStatus.Unused, ct).ConfigureAwait(false);
                return;
            }
            Multiaddr target = addresses[index]!;
            CanDialBack(target, out var endPoint);
            if (!SameIp(endPoint!.Address, stream.Connection.RemoteAddress))
            {
                // Another IP than the one the client speaks from: it pays in bytes before we dial (amplification guard).
                var ask = new PbAutoNatV2 { DialDataRequest = new PbDialDataRequest { AddrIdx = (uint)index, NumBytes = (ulong)_options.DialDataBytes } };
                await NatMessages.WriteAsync(stream, ask, ct).ConfigureAwait(false);
                long received = 0;
                while (received < _options.DialDataBytes)
                {
                    PbAutoNatV2? data = await NatMessages.ReadAsync(stream, PbAutoNatV2.Parser, ct).ConfigureAwait(false);
                    if (data?.DialDataResponse is not { } chunk || chunk.Data.Length > 4096)
                    {
                        Interlocked.Increment(ref _rejected);
                        NatLog.Malformed(_logger, stream.RemotePeer, data is null ? "dial data ended early" : "not a DialDataResponse of at most 4096 bytes");
                        stream.Abort();
                        return;
                    }
                    received += chunk.Data.Length;
                }
            }
            PbDialStatus status = await DialBackAsync(target, stream.RemotePeer, request.Nonce, ct).ConfigureAwait(false);
            await RespondV2Async(stream, PbDialResponse.Types.ResponseStatus.Ok, (uint)index, status, ct).ConfigureAwait(false);
        }
        catch (WireFormatException e)
        {
            NatLog.Malformed(_logger, stream.RemotePeer, e.Message);
            stream.Abort();
        }
        finally
        {
            if (admitted)
            {
                Interlocked.Decrement(ref _active);
            }
        }
    }

    private static async Task RespondV2Async(P2PStream stream, PbDialResponse.Types.ResponseStatus status, uint index, PbDialStatus dialStatus,
        CancellationToken cancellationToken)
    {
        var response = new PbAutoNatV2 { DialResponse = new PbDialResponse { Status = status, AddrIdx = index, DialStatus = dialStatus } };
        await NatMessages.WriteAsync(stream, response, cancellationToken).ConfigureAwait(false);
        await stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Dials <paramref name="target"/> on a new connection and sends the nonce on a dial-back stream.</summary>
    private async Task<PbDialStatus> DialBackAsync(Multiaddr target, PeerId peer, ulong nonce, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _dialBacks);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.DialBackTimeout);
        P2PConnection connection;
        try
        {
            connection = await (await DialerAsync(timeout.Token).ConfigureAwait(false)).DialDirectAsync(target, peer, ConnectionDirection.Outbound, reusePort: false, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or TimeoutException or OperationCanceledException or ConnectionGatedException or NotSupportedException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            NatLog.DialBack(_logger, peer, target, e.Message);
            return PbDialStatus.EDialError;
        }
        await using (connection.ConfigureAwait(false))
        {
            try
            {
                var stream = await connection.OpenStreamAsync(NatProtocols.AutoNatV2DialBack, timeout.Token).ConfigureAwait(false);
                await using (stream.ConfigureAwait(false))
                {
                    await NatMessages.WriteAsync(stream, new PbDialBack { Nonce = nonce }, timeout.Token).ConfigureAwait(false);
                    await stream.CompleteWritesAsync(timeout.Token).ConfigureAwait(false);
                    var answer = await NatMessages.ReadAsync(stream, PbDialBackResponse.Parser, timeout.Token).ConfigureAwait(false);
                    NatLog.DialBack(_logger, peer, target, answer is null ? "no answer to the nonce" : "ok");
                    return answer is null ? PbDialStatus.EDialBackError : PbDialStatus.Ok;
                }
            }
            catch (Exception e) when (e is IOException or TimeoutException or OperationCanceledException or WireFormatException
                or ProtocolNotSupportedException or ProtocolViolationException or Muxing.MuxerClosedException)
            {
                cancellationToken.ThrowIfCancellationRequested();
                NatLog.DialBack(_logger, peer, target, e.Message);
                return PbDialStatus.EDialBackError;
            }
        }
    }

    private async Task HandleV1Async(P2PStream stream, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        linked.CancelAfter(_options.RequestTimeout);
        var ct = linked.Token;
        bool admitted = false;
        try
        {
            PbAutoNatV1? message = await NatMessages.ReadAsync(stream, PbAutoNatV1.Parser, ct).ConfigureAwait(false);
            if (message is null)
            {
                return;
            }
            if (message.Type != PbAutoNatV1.Types.MessageType.Dial || message.Dial?.Peer is not { } info)
            {
                await RespondV1Async(stream, PbAutoNatV1.Types.ResponseStatus.EBadRequest, "expected a DIAL with peer info", null, ct).ConfigureAwait(false);
                return;
            }
            if (info.HasId && !info.Id.Span.SequenceEqual(stream.RemotePeer.Bytes))
            {
                await RespondV1Async(stream, PbAutoNatV1.Types.ResponseStatus.EBadRequest, "peer id does not match the requester", null, ct).ConfigureAwait(false);
                return;
            }
            admitted = Admit(stream);
            if (!admitted)
            {
                await RespondV1Async(stream, PbAutoNatV1.Types.ResponseStatus.EDialRefused, "rate limited", null, ct).ConfigureAwait(false);
                return;
            }
            // v1 has no amplification guard: only the IP the request comes from is dialed.
            var targets = NatMessages.Addresses(info.Addrs, 64)
                .Where(a => a is not null && CanDialBack(a, out var e) && SameIp(e!.Address, stream.Connection.RemoteAddress))
                .Select(a => a!.WithoutPeerId()).Distinct().Take(_options.MaxV1DialAttempts).ToArray();
            if (targets.Length == 0)
            {
                Interlocked.Increment(ref _rejected);
                await RespondV1Async(stream, PbAutoNatV1.Types.ResponseStatus.EDialRefused, "no dialable address", null, ct).ConfigureAwait(false);
                return;
            }
            foreach (var target in targets)
            {
                Interlocked.Increment(ref _dialBacks);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(_options.DialBackTimeout);
                try
                {
                    var connection = await (await DialerAsync(timeout.Token).ConfigureAwait(false)).DialDirectAsync(target, stream.RemotePeer, ConnectionDirection.Outbound, reusePort: false, timeout.Token).ConfigureAwait(false);
                    await connection.DisposeAsync().ConfigureAwait(false);
                    NatLog.DialBack(_logger, stream.RemotePeer, target, "ok");
                    await RespondV1Async(stream, PbAutoNatV1.Types.ResponseStatus.Ok, null, target, ct).ConfigureAwait(false);
                    return;
                }
                catch (Exception e) when (e is IOException or TimeoutException or OperationCanceledException or ConnectionGatedException or NotSupportedException)
                {
                    ct.ThrowIfCancellationRequested();
                    NatLog.DialBack(_logger, stream.RemotePeer, target, e.Message);
                }
            }
            await RespondV1Async(stream, PbAutoNatV1.Types.ResponseStatus.EDialError, "dial back failed", null, ct).ConfigureAwait(false);
        }
        catch (WireFormatException e)
        {
            NatLog.Malformed(_logger, stream.RemotePeer, e.Message);
            await RespondV1Async(stream, PbAutoNatV1.Types.ResponseStatus.EBadRequest, "malformed message", null, ct).ConfigureAwait(false);
        }
        finally
        {
            if (admitted)
            {
                Interlocked.Decrement(ref _active);
            }
        }
    }

    private static async Task RespondV1Async(P2PStream stream, PbAutoNatV1.Types.ResponseStatus status, string? text, Multiaddr? address,
        CancellationToken cancellationToken)
    {
        var response = new PbAutoNatV1.Types.DialResponse { Status = status };
        if (text is not null)
        {
            response.StatusText = text;
        }
        if (address is not null)
        {
            response.Addr = ByteString.CopyFrom(address.ToBytes());
        }
        var message = new PbAutoNatV1 { Type = PbAutoNatV1.Types.MessageType.DialResponse, DialResponse = response };
        await NatMessages.WriteAsync(stream, message, cancellationToken).ConfigureAwait(false);
        await stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Takes a concurrency slot and a rate token for the requester; false (counted as refused) when none is left.</summary>
    private bool Admit(P2PStream stream)
    {
        if (stream.Connection.IsLimited)
        {
            Interlocked.Increment(ref _rejected);
            return false; // a relayed requester cannot be dialed back on the address it speaks from
        }
        DateTimeOffset now = _host.TimeProvider.GetUtcNow();
        lock (_lock)
        {
            if (_active >= _options.MaxConcurrentRequests)
            {
                Interlocked.Increment(ref _rejected);
                return false;
            }
            if (!_recent.TryGetValue(stream.RemotePeer, out var times))
            {
                if (_recent.Count >= 4096)
                {
                    foreach (var idle in _recent.Where(r => r.Value.Count == 0 || r.Value.Peek() < now.AddMinutes(-1)).Select(r => r.Key).ToArray())
                    {
                        _recent.Remove(idle);
                    }
                }
                times = new Queue<DateTimeOffset>();
                _recent[stream.RemotePeer] = times;
            }
            while (times.Count > 0 && times.Peek() < now.AddMinutes(-1))
            {
                times.Dequeue();
            }
            if (times.Count >= _options.MaxRequestsPerPeerPerMinute)
            {
                Interlocked.Increment(ref _rejected);
                return false;
            }
            times.Enqueue(now);
            _active++;
            return true;
        }
    }

    private bool CanDialBack(Multiaddr address, [NotNullWhen(true)] out IPEndPoint? endPoint) =>
        NatMessages.IsDirectTcp(address, out endPoint) && !address.Contains(MultiaddrProtocol.P2pCircuit)
        && (_options.AllowPrivateAddresses || NatMessages.IsPublic(endPoint.Address));

    private static bool SameIp(IPAddress address, Multiaddr remote) =>
        remote.TryGetTcpEndPoint(out var from) && Normalize(from.Address).Equals(Normalize(address));

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
