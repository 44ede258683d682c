using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using P2PNet.Multiformats;
using P2PNet.Host;

namespace P2PNet.Hosting;

/// <summary>
/// Checks every <see cref="P2PHostOptions"/> limit when the application starts (<c>ValidateOnStart</c>), so a bad
/// setting fails with a message naming its key (<c>P2PNet:MaxConnections: …</c>) instead of at the first connection.
/// </summary>
/// <remarks>The configuration binder skips a list element it cannot convert without a word, so the multiaddr lists are
/// also checked against the raw <paramref name="configuration"/> they were bound from.</remarks>
internal sealed class P2PHostOptionsValidator(string prefix, IConfiguration? configuration = null) : IValidateOptions<P2PHostOptions>
{
    public string Prefix { get; } = prefix;

    public ValidateOptionsResult Validate(string? name, P2PHostOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var check = new OptionsCheck(Prefix)
            .That(!string.IsNullOrWhiteSpace(options.AgentVersion), nameof(options.AgentVersion), "must not be empty.")
            .Positive(options.HandshakeTimeout, nameof(options.HandshakeTimeout))
            .Positive(options.NegotiationTimeout, nameof(options.NegotiationTimeout))
            .Positive(options.DialTimeout, nameof(options.DialTimeout))
            .NotNegative(options.IdleTimeout, nameof(options.IdleTimeout))
            .NotNegative(options.ShutdownTimeout, nameof(options.ShutdownTimeout))
            .InRange(options.MaxConnections, 1, int.MaxValue, nameof(options.MaxConnections))
            .InRange(options.MaxConnectionsPerPeer, 1, int.MaxValue, nameof(options.MaxConnectionsPerPeer))
            .InRange(options.MaxPendingInboundConnections, 1, int.MaxValue, nameof(options.MaxPendingInboundConnections))
            .InRange(options.MaxIdentifyMessageSize, 1024, 16 * 1024 * 1024, nameof(options.MaxIdentifyMessageSize));
        for (int i = 0; i < options.BootstrapPeers.Count; i++)
        {
            check.That(options.BootstrapPeers[i]?.GetPeerId() is not null, $"{nameof(options.BootstrapPeers)}:{i}",
                $"'{options.BootstrapPeers[i]}' has no /p2p/<peer id>: a bootstrap peer must say who it is.");
        }
        for (int i = 0; i < options.ListenAddresses.Count; i++)
        {
            check.That(options.ListenAddresses[i] is { IsEmpty: false }, $"{nameof(options.ListenAddresses)}:{i}", "must be a multiaddr such as /ip4/0.0.0.0/tcp/4001.");
        }
        check.EachParses(configuration, nameof(options.ListenAddresses), "a multiaddr", text => Multiaddr.Parse(text))
            .EachParses(configuration, nameof(options.BootstrapPeers), "a multiaddr", text => Multiaddr.Parse(text));
        check.Throwing(nameof(options.Yamux), options.Yamux.Validate)
            .Positive(options.Noise.HandshakeTimeout, "Noise:HandshakeTimeout")
            .Positive(options.Tcp.ConnectTimeout, "Tcp:ConnectTimeout")
            .InRange(options.Tcp.Backlog, 1, int.MaxValue, "Tcp:Backlog")
            .InRange(options.Tcp.MaxReadBufferSize, 1024, int.MaxValue, "Tcp:MaxReadBufferSize")
            .InRange(options.Tcp.MaxWriteBufferSize, 1024, int.MaxValue, "Tcp:MaxWriteBufferSize")
            .Positive(options.WebSockets.ConnectTimeout, "WebSockets:ConnectTimeout")
            .Positive(options.WebSockets.UpgradeTimeout, "WebSockets:UpgradeTimeout")
            .InRange(options.WebSockets.MaxMessageSize, 1024, int.MaxValue, "WebSockets:MaxMessageSize")
            .InRange(options.WebSockets.MaxPendingUpgrades, 1, int.MaxValue, "WebSockets:MaxPendingUpgrades")
            .Positive(options.Mdns.QueryInterval, "Mdns:QueryInterval")
            .Positive(options.Mdns.RecordTtl, "Mdns:RecordTtl")
            .InRange(options.Mdns.Port, 1, 65535, "Mdns:Port")
            .That(!options.Mdns.Enabled || options.Mdns.UseIPv4 || options.Mdns.UseIPv6, "Mdns:Enabled", "needs UseIPv4 or UseIPv6.")
            .Positive(options.Bootstrap.InitialBackoff, "Bootstrap:InitialBackoff")
            .That(options.Bootstrap.MaxBackoff >= options.Bootstrap.InitialBackoff, "Bootstrap:MaxBackoff",
                $"must be at least Bootstrap:InitialBackoff ({options.Bootstrap.InitialBackoff}), was {options.Bootstrap.MaxBackoff}.")
            .That(options.Bootstrap.Jitter is >= 0 and <= 1, "Bootstrap:Jitter", $"must be between 0 and 1 (was {options.Bootstrap.Jitter}).")
            .InRange(options.PeerStore.ReconnectOnStart, 0, int.MaxValue, "PeerStore:ReconnectOnStart")
            .Positive(options.PeerStore.FlushInterval, "PeerStore:FlushInterval");
        return check.Result();
    }
}
