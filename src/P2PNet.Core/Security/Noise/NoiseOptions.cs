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
    /// (libp2p/specs connections/inlined-muxer-negotiation.md). Default: empty, announce nothing.
    /// </summary>
    public IList<string> StreamMuxers { get; } = new List<string>();

    /// <summary>Test hook: sees (and may alter) our handshake payload just before it is encrypted and sent.</summary>
    internal Action<NoiseHandshakePayload>? PayloadInterceptor { get; set; }
}
