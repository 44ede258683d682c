using P2PNet.Security.Noise.Protos;

namespace P2PNet.Security.Noise;

/// <summary>Settings of the Noise secure channel (<c>/noise</c>).</summary>
public sealed class NoiseOptions
{
    /// <summary>
    /// How long the whole XX handshake (three messages) may take before the connection is dropped with a
    /// <see cref="NoiseHandshakeException"/>. Default: 10 seconds. <see cref="Timeout.InfiniteTimeSpan"/> disables it.
    /// </summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Stream muxer protocol ids to announce in the handshake payload, most preferred first
    /// (libp2p/specs connections/inlined-muxer-negotiation.md). Default: <c>/yamux/1.0.0</c>. When the remote announces
    /// a list too, the muxer is the first of the initiator's list that both support and the multistream-select round
    /// for it is skipped (one round trip less per connection); no overlap fails the handshake. Clear the list to always
    /// pick the muxer with multistream-select. The agreed muxer must be one of the host's <see cref="Host.P2PHostOptions.Muxers"/>.
    /// </summary>
    public IList<string> StreamMuxers { get; } = new List<string> { Muxing.Yamux.YamuxStreamMuxer.Id };

    /// <summary>Test hook: sees (and may alter) our handshake payload just before it is encrypted and sent.</summary>
    internal Action<NoiseHandshakePayload>? PayloadInterceptor { get; set; }
}
