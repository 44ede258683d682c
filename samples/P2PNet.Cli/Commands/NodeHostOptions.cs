using System.CommandLine;
using P2PNet.Multiformats;
using P2PNet.Security.Pnet;

namespace P2PNet.Cli.Commands;

/// <summary>The options every long-running node command shares (<c>--key</c>, <c>--listen</c>, <c>--psk</c>,
/// <c>-v</c>: vpn up, proxy inbound, gateway serve, net-api), and their parsing.</summary>
internal sealed class NodeHostOptions(string listenDescription = "Multiaddr to listen on (repeatable). Default /ip4/0.0.0.0/tcp/0.")
{
    public Option<string?> Key { get; } = new("--key") { Description = "Identity key file (default: a new key each run)." };

    public Option<string[]> Listen { get; } = new("--listen") { Description = listenDescription };

    public Option<string?> Psk { get; } = new("--psk") { Description = "Swarm key file: run inside that private network (libp2p PSK v1)." };

    public Option<bool> Verbose { get; } = new("--verbose", "-v") { Description = "Log debug details to stderr." };

    /// <summary>The <c>--listen</c> addresses, <c>/ip4/0.0.0.0/tcp/0</c> when none is given.</summary>
    /// <exception cref="ArgumentException">A malformed multiaddr.</exception>
    public Multiaddr[] ListenAddresses(ParseResult parse)
    {
        string[] given = parse.GetValue(Listen) is { Length: > 0 } addresses ? addresses : ["/ip4/0.0.0.0/tcp/0"];
        return [.. given.Select(CliSupport.ParseAddress)];
    }

    /// <summary>The <c>--psk</c> swarm key, or null.</summary>
    public SwarmKey? ReadSwarmKey(ParseResult parse) => parse.GetValue(Psk) is { } path ? SwarmKey.ReadFile(path) : null;
}
