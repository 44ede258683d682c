using System.Net;
using P2PNet.Peers;

namespace P2PNet.Proxy.Tunnels;

/// <summary>Settings of a <see cref="ForwardTarget"/>: what it serves, and to whom.</summary>
public sealed class ForwardTargetOptions
{
    /// <summary>The targets served, by name (a DNS label) → local endpoint. Nothing else is ever connected to.</summary>
    public IDictionary<string, EndPoint> Targets { get; } = new Dictionary<string, EndPoint>(StringComparer.Ordinal);

    /// <summary>The peers allowed to open forwards. Empty (the default) allows nobody unless <see cref="AllowAnyPeer"/>.</summary>
    public ISet<PeerId> AllowedPeers { get; } = new HashSet<PeerId>();

    /// <summary>Whether every peer that can connect may open forwards (for a private swarm, whose key already gates
    /// connections). Default <see langword="false"/>.</summary>
    public bool AllowAnyPeer { get; set; }

    /// <summary>How long connecting to a target may take. Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A forwarded connection that carries nothing either way for this long is closed. Default 15 minutes.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(15);
}
