using P2PNet.Host;

namespace P2PNet.Networking;

/// <summary>What <see cref="INetwork.Config"/> takes: the host's settings and the protocols to serve.</summary>
public sealed class NetworkOptions
{
    /// <summary>The host's settings (identity, listen addresses, limits).</summary>
    public P2PHostOptions Host { get; init; } = new();

    /// <summary>Application protocol handlers to register before the host starts.</summary>
    public IDictionary<string, StreamHandler> StreamHandlers { get; } = new Dictionary<string, StreamHandler>(StringComparer.Ordinal);

    /// <summary>Largest messenger message. Default 4 MiB.</summary>
    public int MaxMessageSize { get; init; } = P2PNet.Messaging.Messenger.DefaultMaxMessageSize;
}
