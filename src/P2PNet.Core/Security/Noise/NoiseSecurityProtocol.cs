using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Crypto;
using P2PNet.Peers;
using P2PNet.Upgrade;

namespace P2PNet.Security.Noise;

/// <summary>
/// The Noise security protocol (<c>/noise</c>, libp2p/specs noise/README.md) as an <see cref="ISecurityProtocol"/>:
/// the XX handshake with the identity's signed static key, and the stream muxer agreed inside the handshake
/// (libp2p/specs connections/inlined-muxer-negotiation.md) when both sides announce muxers.
/// </summary>
/// <remarks>
/// One instance serves every handshake of a host (thread-safe); it keeps one static X25519 key, wiped by
/// <see cref="Dispose"/> (after the last handshake). The announced muxers are <see cref="NoiseOptions.StreamMuxers"/>;
/// when both sides announce, the first of the initiator's list the responder also announced is agreed, and it must be
/// one the host runs — otherwise the handshake fails with a <see cref="NoiseHandshakeException"/>.
/// </remarks>
public sealed class NoiseSecurityProtocol : ISecurityProtocol, IDisposable
{
    /// <summary>The protocol id negotiated with multistream-select.</summary>
    public const string Id = "/noise";

    private readonly NoiseIdentity _identity;
    private readonly NoiseOptions _options;
    private readonly IReadOnlyList<string> _supportedMuxers;
    private readonly ILogger _logger;

    /// <summary>Creates the protocol for <paramref name="identity"/> (owned by the caller; it must outlive this object).</summary>
    /// <param name="identity">Our identity key; it signs the static key.</param>
    /// <param name="options">Handshake timeout and announced muxers.</param>
    /// <param name="supportedMuxers">The muxers the caller runs: one agreed in the handshake must be among them.</param>
    /// <param name="loggerFactory">Where logs go; none by default.</param>
    public NoiseSecurityProtocol(PrivateKey identity, NoiseOptions options, IReadOnlyList<string> supportedMuxers, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(supportedMuxers);
        _identity = new NoiseIdentity(identity);
        _options = options;
        _supportedMuxers = supportedMuxers;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<NoiseSecureChannel>();
    }

    /// <summary>The factory for <see cref="Host.P2PHostOptions.SecurityProtocols"/> (the default entry): Noise with
    /// <see cref="Host.P2PHostOptions.Noise"/>.</summary>
    public static ISecurityProtocol Create(UpgradeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new NoiseSecurityProtocol(context.Identity, context.Options.Noise, context.Muxers, context.LoggerFactory);
    }

    /// <inheritdoc/>
    public string ProtocolId => Id;

    /// <inheritdoc/>
    /// <exception cref="NoiseHandshakeException">The handshake failed, the remote is not <paramref name="expectedPeer"/>,
    /// or no usable muxer is common to both announcements.</exception>
    public async ValueTask<ISecureConnection> SecureOutboundAsync(IDuplexPipe connection, PeerId? expectedPeer, CancellationToken cancellationToken)
    {
        NoiseSecureChannel channel = await NoiseHandshake.SecureOutboundAsync(connection, _identity, expectedPeer, _options, _logger, cancellationToken).ConfigureAwait(false);
        return await AgreeMuxerAsync(channel, initiator: true).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    /// <exception cref="NoiseHandshakeException">The handshake failed, or no usable muxer is common to both announcements.</exception>
    public async ValueTask<ISecureConnection> SecureInboundAsync(IDuplexPipe connection, CancellationToken cancellationToken)
    {
        NoiseSecureChannel channel = await NoiseHandshake.SecureInboundAsync(connection, _identity, _options, _logger, cancellationToken).ConfigureAwait(false);
        return await AgreeMuxerAsync(channel, initiator: false).ConfigureAwait(false);
    }

    private async ValueTask<ISecureConnection> AgreeMuxerAsync(NoiseSecureChannel channel, bool initiator)
    {
        try
        {
            channel.Muxer = InlinedMuxer(channel.RemotePeer, _options.StreamMuxers, channel.RemoteMuxers, _supportedMuxers, initiator);
            return channel;
        }
        catch
        {
            await channel.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// The muxer chosen inside the handshake: when both sides announced a list, the first of the initiator's list the
    /// responder also announced; <see langword="null"/> when either list is empty (negotiate with multistream-select).
    /// </summary>
    /// <exception cref="NoiseHandshakeException">Both announced muxers and none is common, or the common one is not supported here.</exception>
    internal static string? InlinedMuxer(PeerId remotePeer, IList<string> local, IReadOnlyList<string> remote, IReadOnlyList<string> supported, bool initiator)
    {
        if (local.Count == 0 || remote.Count == 0)
        {
            return null;
        }
        IEnumerable<string> initiatorList = initiator ? local : remote;
        IEnumerable<string> responderList = initiator ? remote : local;
        string? chosen = initiatorList.FirstOrDefault(m => responderList.Contains(m, StringComparer.Ordinal))
            ?? throw new NoiseHandshakeException(
                $"No common stream muxer: we announced {string.Join(", ", local)}, {remotePeer} announced {string.Join(", ", remote)}.");
        if (!supported.Contains(chosen, StringComparer.Ordinal))
        {
            throw new NoiseHandshakeException($"The stream muxer agreed in the handshake, {chosen}, is not supported (only {string.Join(", ", supported)}).");
        }
        return chosen;
    }

    /// <summary>Wipes the static key; call after the last handshake.</summary>
    public void Dispose() => _identity.Dispose();
}
