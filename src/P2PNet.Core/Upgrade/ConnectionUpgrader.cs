using System.Diagnostics;
using P2PNet.Diagnostics;
using P2PNet.Host;
using P2PNet.Multistream;
using P2PNet.Peers;
using P2PNet.Security.Pnet;
using P2PNet.Transports;

namespace P2PNet.Upgrade;

/// <summary>
/// Turns a raw connection into a secured, multiplexed one (libp2p/specs connections/README.md, "Upgrading
/// connections"): pnet when a swarm key is set → a security protocol chosen by multistream-select (or fixed) → a muxer,
/// agreed inside the security handshake when both sides announced muxers there, else chosen by multistream-select.
/// </summary>
/// <remarks>
/// Works over any <see cref="TransportConnection"/>: TCP, a WebSocket, a relayed stream or an in-memory pipe are
/// upgraded alike. Each step runs in a span (<c>p2pnet.security.handshake</c>, <c>p2pnet.muxer.setup</c>). On failure the
/// layers made so far and the raw connection are aborted and disposed, and the error thrown.
/// Thread-safe; shared by all the connections of a host. Disposing it disposes the protocols that are disposable.
/// </remarks>
internal sealed class ConnectionUpgrader : IDisposable
{
    private readonly ISecurityProtocol[] _security;
    private readonly IStreamMuxer[] _muxers;

    public ConnectionUpgrader(IEnumerable<ISecurityProtocol> security, IEnumerable<IStreamMuxer> muxers)
    {
        ArgumentNullException.ThrowIfNull(security);
        ArgumentNullException.ThrowIfNull(muxers);
        _security = [.. security];
        _muxers = [.. muxers];
        if (_security.Length == 0 || _muxers.Length == 0)
        {
            throw new ArgumentException("A connection upgrade needs at least one security protocol and one stream muxer.");
        }
    }

    /// <summary>Builds the upgrader of a host from <see cref="P2PHostOptions.SecurityProtocols"/> and <see cref="P2PHostOptions.Muxers"/>.</summary>
    public static ConnectionUpgrader Create(UpgradeContext context, IEnumerable<Func<UpgradeContext, IStreamMuxer>> muxers,
        IEnumerable<Func<UpgradeContext, ISecurityProtocol>> security)
    {
        ArgumentNullException.ThrowIfNull(context);
        IStreamMuxer[] builtMuxers = [.. muxers.Select(f => f(context))];
        var withMuxers = new UpgradeContext(context.Identity, context.Options, [.. builtMuxers.Select(m => m.ProtocolId)],
            context.LoggerFactory, context.TimeProvider);
        return new ConnectionUpgrader(security.Select(f => f(withMuxers)), builtMuxers);
    }

    /// <summary>The security protocols, most preferred first.</summary>
    public IReadOnlyList<ISecurityProtocol> SecurityProtocols => _security;

    /// <summary>The stream muxers, most preferred first.</summary>
    public IReadOnlyList<IStreamMuxer> Muxers => _muxers;

    /// <summary>Upgrades <paramref name="raw"/>.</summary>
    /// <param name="raw">The raw connection; on failure it is aborted and disposed here.</param>
    /// <param name="direction">Outbound: we dialed (initiator of every step).</param>
    /// <param name="expectedPeer">Outbound: the peer we meant to reach, or <see langword="null"/> for any.</param>
    /// <param name="privateNetworkKey">The swarm key, or <see langword="null"/> for the public network.</param>
    /// <param name="acceptedKeys">Further keys accepted inbound (a rotation's grace period).</param>
    /// <param name="fixedSecurity">A security protocol to run without multistream-select (both sides must agree out of
    /// band), or <see langword="null"/> to negotiate one.</param>
    /// <param name="cancellationToken">Cancels the upgrade.</param>
    public async Task<ConnectionUpgrade> UpgradeAsync(TransportConnection raw, ConnectionDirection direction, PeerId? expectedPeer,
        SwarmKey? privateNetworkKey, IReadOnlyList<SwarmKey> acceptedKeys, ISecurityProtocol? fixedSecurity, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(raw);
        ArgumentNullException.ThrowIfNull(acceptedKeys);
        bool outbound = direction == ConnectionDirection.Outbound;
        ISecureConnection? secure = null;
        TransportConnection transport = raw;
        Activity? handshakeSpan = null, muxerSpan = null;
        try
        {
            if (privateNetworkKey is not null)
            {
                transport = await PnetConnection.ProtectAsync(raw, privateNetworkKey, acceptedKeys, inbound: !outbound, cancellationToken).ConfigureAwait(false);
            }
            handshakeSpan = StartSpan("p2pnet.security.handshake", direction, (fixedSecurity ?? _security[0]).ProtocolId);
            ISecurityProtocol security = fixedSecurity ?? await SelectAsync(transport, _security, s => s.ProtocolId, outbound, cancellationToken).ConfigureAwait(false);
            handshakeSpan?.SetTag("p2pnet.protocol", security.ProtocolId);
            secure = outbound
                ? await security.SecureOutboundAsync(transport, expectedPeer, cancellationToken).ConfigureAwait(false)
                : await security.SecureInboundAsync(transport, cancellationToken).ConfigureAwait(false);
            handshakeSpan?.SetTag("p2pnet.peer.id", secure.RemotePeer.ToString());
            handshakeSpan?.Dispose();
            handshakeSpan = null;

            IStreamMuxer? muxer = secure.Muxer is { } inlined ? _muxers.FirstOrDefault(m => m.ProtocolId == inlined) : null;
            muxerSpan = StartSpan("p2pnet.muxer.setup", direction, (muxer ?? _muxers[0]).ProtocolId);
            if (secure.Muxer is not null && muxer is null)
            {
                // A security protocol must only agree on muxers from UpgradeContext.Muxers: a bug, not the remote's fault.
                throw new InvalidOperationException($"The security handshake agreed on the stream muxer {secure.Muxer}, which this host does not run.");
            }
            muxer ??= await SelectAsync(secure, _muxers, m => m.ProtocolId, outbound, cancellationToken).ConfigureAwait(false);
            muxerSpan?.SetTag("p2pnet.protocol", muxer.ProtocolId);
            IMuxedSession session = muxer.CreateSession(secure, initiator: outbound);
            muxerSpan?.Dispose();
            return new ConnectionUpgrade(transport, secure, session, muxer.ProtocolId, privateNetworkKey is null ? null : (transport as PnetConnection)?.Key);
        }
        catch (Exception e)
        {
            _ = P2PNetTelemetry.Failed(muxerSpan ?? handshakeSpan, e);
            muxerSpan?.Dispose();
            handshakeSpan?.Dispose();
            if (secure is not null)
            {
                await secure.DisposeAsync().ConfigureAwait(false);
            }
            transport.Abort();
            await transport.DisposeAsync().ConfigureAwait(false); // a pnet wrapper disposes the raw connection too
            throw;
        }
    }

    /// <summary>Multistream-select over <paramref name="pipe"/>: the initiator proposes in preference order, the responder
    /// takes the first it has.</summary>
    private static async Task<T> SelectAsync<T>(System.IO.Pipelines.IDuplexPipe pipe, T[] choices, Func<T, string> id, bool outbound, CancellationToken cancellationToken)
    {
        string chosen = outbound
            ? await MultistreamSelect.SelectAsync(pipe, [.. choices.Select(id)], cancellationToken).ConfigureAwait(false)
            : await MultistreamSelect.ListenAsync(pipe, p => choices.Any(c => id(c) == p), cancellationToken).ConfigureAwait(false);
        return choices.First(c => id(c) == chosen);
    }

    private static Activity? StartSpan(string name, ConnectionDirection direction, string protocol) =>
        P2PNetTelemetry.Source.StartActivity(name)
            ?.SetTag("p2pnet.direction", direction == ConnectionDirection.Inbound ? "inbound" : "outbound")
            .SetTag("p2pnet.protocol", protocol);

    /// <summary>Disposes the protocols and muxers that are disposable (e.g. Noise's static key).</summary>
    public void Dispose()
    {
        foreach (var disposable in _security.OfType<IDisposable>().Concat(_muxers.OfType<IDisposable>()))
        {
            disposable.Dispose();
        }
    }
}
