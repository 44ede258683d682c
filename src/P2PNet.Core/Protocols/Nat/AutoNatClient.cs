using System.Collections.Concurrent;
using System.Security.Cryptography;
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
/// The client side of AutoNAT (libp2p/specs autonat/): asks connected peers that serve AutoNAT v2 (or only v1) to dial
/// our addresses back, and concludes from their agreeing answers whether we are reachable, raising
/// <see cref="LocalReachabilityChanged"/> through <see cref="P2PHost.Reachability"/>.
/// </summary>
/// <remarks>
/// Candidates are the host's activated observed addresses (<see cref="P2PHost.ObservedAddresses"/>) then its direct
/// listen addresses, public ones only unless <see cref="AutoNatClientOptions.AllowPrivateAddresses"/>. Each v2 request
/// names one address first; a server's answer counts only when the nonce came back on a dial-back stream. Public when
/// an address is confirmed reachable; private when addresses were tested and none is. Thread-safe.
/// </remarks>
public sealed class AutoNatClient : IAsyncDisposable
{
    private const int ResultsKept = 8;

    private readonly P2PHost _host;
    private readonly AutoNatClientOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource> _nonces = new();
    private readonly Lock _lock = new();
    private readonly Dictionary<Multiaddr, List<(PeerId Server, bool Reachable)>> _results = [];
    private readonly Dictionary<Multiaddr, bool> _verdicts = [];
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;
    private int _nextServer;
    private ServiceLifecycle _lifecycle;

    /// <summary>Creates the client; nothing runs until <see cref="Start"/>.</summary>
    public AutoNatClient(P2PHost host, AutoNatClientOptions? options = null, ILogger<AutoNatClient>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        _host = host;
        _options = options ?? new AutoNatClientOptions();
        if (_options.Confirmations < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "Confirmations must be at least 1.");
        }
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>The verdict per address so far: true reachable, false not (addresses without one are absent).</summary>
    public IReadOnlyDictionary<Multiaddr, bool> Verdicts
    {
        get
        {
            lock (_lock)
            {
                return new Dictionary<Multiaddr, bool>(_verdicts);
            }
        }
    }

    /// <summary>Serves the dial-back protocol and starts probing in the background.</summary>
    public void Start()
    {
        if (!_lifecycle.TryStart(this))
        {
            return;
        }
        _host.SetStreamHandler(NatProtocols.AutoNatV2DialBack, HandleDialBackAsync);
        if (_options.BackgroundProbing)
        {
            _loop = Task.Run(() => RunAsync(_stopping.Token));
        }
    }

    /// <summary>Stops probing and serving dial-backs.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_lifecycle.TryDispose(out _))
        {
            return;
        }
        _host.RemoveStreamHandler(NatProtocols.AutoNatV2DialBack);
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _stopping.Dispose();
    }

    /// <summary>Probes one address now with one server (what the loop does each interval); returns the answer:
    /// true reachable, false not, null when the server gave none (refused, failed, or the nonce never came).</summary>
    public async Task<bool?> ProbeAsync(PeerId server, Multiaddr address, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(address);
        var result = await ProbeOnceAsync(server, address, Candidates(includeLoopback: IsLoopback(address)).Where(a => !a.Equals(address)).ToArray(), cancellationToken).ConfigureAwait(false);
        if (result is { } r)
        {
            Record(r.Address, server, r.Reachable);
            return r.Reachable;
        }
        return null;
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            bool settled = false;
            try
            {
                settled = await ProbeRoundAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // one failed round must not end probing
            catch (Exception e)
#pragma warning restore CA1031
            {
                NatLog.Malformed(_logger, _host.PeerId, "probe round failed: " + e.Message);
            }
            await Task.Delay(settled ? _options.RefreshInterval : _options.ProbeInterval, _host.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One round: the first candidate without a verdict (or, once all have one, each in turn) is put to
    /// <see cref="AutoNatClientOptions.Confirmations"/> requests at once, spread over the servers. Returns whether
    /// every candidate has a verdict.</summary>
    private async Task<bool> ProbeRoundAsync(CancellationToken cancellationToken)
    {
        var servers = Servers();
        // A loopback address means something only to a server on this machine.
        bool local = servers.Count > 0 && servers.All(p => _host.GetConnections(p).All(c => IsLoopback(c.RemoteAddress)));
        var candidates = Candidates(local);
        Forget(candidates);
        if (candidates.Count == 0 || servers.Count == 0)
        {
            return false;
        }
        Multiaddr? target;
        lock (_lock)
        {
            target = candidates.FirstOrDefault(c => !_verdicts.ContainsKey(c));
        }
        bool settled = target is null;
        target ??= candidates[_nextServer % candidates.Count];
        // As many requests at once as a verdict needs, spread over the servers (one server may get several): a verdict
        // then takes one dial-back time, not one per confirmation.
        int wanted = settled ? Math.Min(_options.Confirmations, servers.Count) : _options.Confirmations;
        var chosen = Enumerable.Range(0, wanted).Select(i => servers[(_nextServer + i) % servers.Count]).ToArray();
        _nextServer += wanted;
        var others = candidates.Where(c => !c.Equals(target)).ToArray();
        var answers = await Task.WhenAll(chosen.Select(async server =>
            (Server: server, Result: await ProbeOnceAsync(server, target, others, cancellationToken).ConfigureAwait(false)))).ConfigureAwait(false);
        foreach (var (server, result) in answers)
        {
            if (result is { } r)
            {
                Record(r.Address, server, r.Reachable);
            }
        }
        return settled;
    }

    /// <summary>Connected peers (over direct connections) that said in identify they serve AutoNAT.</summary>
    private List<PeerId> Servers() =>
        [.. _host.Connections.Where(c => !c.IsLimited && !c.IsClosing).Select(c => c.RemotePeer).Distinct()
            .Where(p => _host.PeerStore.Get(p)?.Protocols is { } protocols
                && (protocols.Contains(NatProtocols.AutoNatV2DialRequest) || protocols.Contains(NatProtocols.AutoNatV1)))];

    /// <summary>Addresses worth testing, best first: activated observed addresses, then direct listen addresses.</summary>
    private List<Multiaddr> Candidates(bool includeLoopback) =>
        [.. _host.ObservedAddresses.Concat(_host.ListenAddresses.Select(a => a.WithoutPeerId()))
            .Where(a => !a.Contains(MultiaddrProtocol.P2pCircuit) && NatMessages.IsDirectTcp(a, out var e)
                && (_options.AllowPrivateAddresses || NatMessages.IsPublic(e.Address)) && (includeLoopback || !IsLoopback(a)))
            .Distinct()];

    private static bool IsLoopback(Multiaddr address) =>
        address.WithoutPeerId().TryGetTcpEndPoint(out var e) && System.Net.IPAddress.IsLoopback(e.Address);

    /// <summary>Drops results and verdicts of addresses that are no longer ours.</summary>
    private void Forget(List<Multiaddr> candidates)
    {
        lock (_lock)
        {
            foreach (var gone in _results.Keys.Where(a => !candidates.Contains(a)).ToArray())
            {
                _results.Remove(gone);
                _verdicts.Remove(gone);
            }
        }
        Publish();
    }

    private void Record(Multiaddr address, PeerId server, bool reachable)
    {
        address = address.WithoutPeerId();
        int servers = Math.Max(1, Servers().Count);
        lock (_lock)
        {
            if (!_results.TryGetValue(address, out var results))
            {
                if (_results.Count >= 64)
                {
                    return;
                }
                results = [];
                _results[address] = results;
            }
            results.Add((server, reachable));
            if (results.Count > ResultsKept)
            {
                results.RemoveAt(0);
            }
            // A verdict: the last Confirmations answers agree and come from enough distinct servers.
            int need = _options.Confirmations;
            if (results.Count >= need)
            {
                var last = results.Skip(results.Count - need).ToArray();
                int distinct = last.Select(r => r.Server).Distinct().Count();
                if (last.All(r => r.Reachable == reachable) && distinct >= Math.Min(need, servers))
                {
                    _verdicts[address] = reachable;
                }
            }
        }
        Publish();
    }

    private void Publish()
    {
        Reachability reachability;
        lock (_lock)
        {
            reachability = _verdicts.Values.Any(v => v) ? Reachability.Public
                : _verdicts.Count > 0 ? Reachability.Private : Reachability.Unknown;
        }
        if (reachability != Reachability.Unknown || _host.Reachability != Reachability.Unknown)
        {
            _host.SetReachability(reachability);
        }
    }

    /// <summary>One request to one server: v2 when it serves it, v1 otherwise. Null when the server gave no usable answer.</summary>
    private async Task<(Multiaddr Address, bool Reachable)?> ProbeOnceAsync(PeerId server, Multiaddr target, IReadOnlyList<Multiaddr> others,
        CancellationToken cancellationToken)
    {
        var connection = _host.GetConnections(server).LastOrDefault(c => !c.IsLimited && !c.IsClosing);
        if (connection is null)
        {
            return null;
        }
        bool v2 = _host.PeerStore.Get(server)?.Protocols.Contains(NatProtocols.AutoNatV2DialRequest) ?? false;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout);
        try
        {
            var result = v2
                ? await ProbeV2Async(connection, target, others, timeout.Token).ConfigureAwait(false)
                : await ProbeV1Async(connection, target, others, timeout.Token).ConfigureAwait(false);
            NatLog.Probe(_logger, target, server, result is null ? "no answer" : result.Value.Reachable ? "reachable" : "unreachable");
            return result;
        }
        catch (Exception e) when (e is IOException or TimeoutException or WireFormatException or ProtocolNotSupportedException
            or ProtocolViolationException or Muxing.MuxerClosedException
            || e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            NatLog.Probe(_logger, target, server, e.Message);
            return null;
        }
    }

    private async Task<(Multiaddr Address, bool Reachable)?> ProbeV2Async(P2PConnection connection, Multiaddr target, IReadOnlyList<Multiaddr> others,
        CancellationToken cancellationToken)
    {
        ulong nonce = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        var dialedBack = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _nonces[nonce] = dialedBack;
        try
        {
            var stream = await connection.OpenStreamAsync(NatProtocols.AutoNatV2DialRequest, cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                Multiaddr[] sent = [target, .. others.Take(7)];
                var request = new PbDialRequest { Nonce = nonce };
                request.Addrs.AddRange(sent.Select(a => ByteString.CopyFrom(a.ToBytes())));
                await NatMessages.WriteAsync(stream, new PbAutoNatV2 { DialRequest = request }, cancellationToken).ConfigureAwait(false);
                while (true)
                {
                    var message = await NatMessages.ReadAsync(stream, PbAutoNatV2.Parser, cancellationToken).ConfigureAwait(false);
                    if (message is null)
                    {
                        return null;
                    }
                    if (message.DialDataRequest is { } ask)
                    {
                        if (ask.NumBytes > (ulong)_options.MaxDialDataBytes || ask.AddrIdx >= sent.Length)
                        {
                            stream.Abort(); // too dear, or for an address we did not send: the request is abandoned
                            return null;
                        }
                        await SendDialDataAsync(stream, (long)ask.NumBytes, cancellationToken).ConfigureAwait(false);
                        continue;
                    }
                    if (message.DialResponse is not { } response || response.Status != PbDialResponse.Types.ResponseStatus.Ok
                        || response.AddrIdx >= sent.Length)
                    {
                        return null; // refused, rejected, failed, or not understood: no answer about any address
                    }
                    Multiaddr tested = sent[response.AddrIdx];
                    switch (response.DialStatus)
                    {
                        case PbDialStatus.EDialError:
                            return (tested, false);
                        case PbDialStatus.Ok:
                            // Believed only if our nonce came back (the dial-back stream precedes the response).
                            bool proven = await dialedBack.Task.WaitAsync(TimeSpan.FromSeconds(2), _host.TimeProvider, CancellationToken.None)
                                .ContinueWith(t => t.IsCompletedSuccessfully, TaskScheduler.Default).ConfigureAwait(false);
                            return proven ? (tested, true) : null;
                        default:
                            return null;
                    }
                }
            }
        }
        finally
        {
            _nonces.TryRemove(nonce, out _);
        }
    }

    private static async Task SendDialDataAsync(P2PStream stream, long bytes, CancellationToken cancellationToken)
    {
        var chunk = new PbAutoNatV2 { DialDataResponse = new PbDialDataResponse { Data = ByteString.CopyFrom(new byte[4096]) } };
        byte[] frame = chunk.ToByteArray();
        for (long sent = 0; sent < bytes; sent += 4096)
        {
            await IO.LengthPrefixed.WriteAsync(stream.Output, frame, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<(Multiaddr Address, bool Reachable)?> ProbeV1Async(P2PConnection connection, Multiaddr target, IReadOnlyList<Multiaddr> others,
        CancellationToken cancellationToken)
    {
        var stream = await connection.OpenStreamAsync(NatProtocols.AutoNatV1, cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var info = new PbAutoNatV1.Types.PeerInfo { Id = ByteString.CopyFrom(_host.PeerId.Bytes) };
            info.Addrs.AddRange(new[] { target }.Concat(others.Take(7)).Select(a => ByteString.CopyFrom(a.ToBytes())));
            var request = new PbAutoNatV1 { Type = PbAutoNatV1.Types.MessageType.Dial, Dial = new PbAutoNatV1.Types.Dial { Peer = info } };
            await NatMessages.WriteAsync(stream, request, cancellationToken).ConfigureAwait(false);
            await stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
            var answer = await NatMessages.ReadAsync(stream, PbAutoNatV1.Parser, cancellationToken).ConfigureAwait(false);
            if (answer?.DialResponse is not { HasStatus: true } response)
            {
                return null;
            }
            if (response.Status == PbAutoNatV1.Types.ResponseStatus.Ok)
            {
                Multiaddr? dialed = null;
                if (response.HasAddr)
                {
                    try
                    {
                        dialed = Multiaddr.FromBytes(response.Addr.Span).WithoutPeerId();
                    }
                    catch (WireFormatException)
                    {
                    }
                }
                return (dialed is not null && (dialed.Equals(target) || others.Contains(dialed)) ? dialed : target, true);
            }
            // v1 answers for the node, not an address: a failed dial-back counts against the address we put first.
            return response.Status == PbAutoNatV1.Types.ResponseStatus.EDialError ? (target, false) : null;
        }
    }

    private async Task HandleDialBackAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        try
        {
            var message = await NatMessages.ReadAsync(stream, PbDialBack.Parser, cancellationToken).ConfigureAwait(false);
            if (message is null || !_nonces.TryGetValue(message.Nonce, out var pending))
            {
                stream.Abort(); // not a nonce of ours: nothing to confirm
                return;
            }
            await NatMessages.WriteAsync(stream, new PbDialBackResponse { Status = PbDialBackResponse.Types.DialBackStatus.Ok }, cancellationToken).ConfigureAwait(false);
            await stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
            pending.TrySetResult();
        }
        catch (WireFormatException e)
        {
            NatLog.Malformed(_logger, stream.RemotePeer, e.Message);
            stream.Abort();
        }
    }
}
