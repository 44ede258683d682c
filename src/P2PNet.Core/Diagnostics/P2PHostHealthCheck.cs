using Microsoft.Extensions.Diagnostics.HealthChecks;
using P2PNet.Host;

namespace P2PNet.Diagnostics;

/// <summary>
/// Reports a <see cref="P2PHost"/>'s health: <see cref="HealthStatus.Unhealthy"/> while it should listen but does not
/// (not started, stopped, or every listener failed), <see cref="HealthStatus.Degraded"/> while it has fewer connected
/// peers than <see cref="MinimumPeers"/>, healthy otherwise. The data carries the listen addresses, the peer count and
/// whether the host is in a private network.
/// </summary>
public sealed class P2PHostHealthCheck : IHealthCheck
{
    private readonly P2PHost _host;

    /// <summary>Creates the check of <paramref name="host"/>.</summary>
    /// <param name="host">The host to report on.</param>
    /// <param name="minimumPeers">Fewer connected peers than this is <see cref="HealthStatus.Degraded"/>. Default 0 (never).</param>
    public P2PHostHealthCheck(P2PHost host, int minimumPeers = 0)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentOutOfRangeException.ThrowIfNegative(minimumPeers);
        _host = host;
        MinimumPeers = minimumPeers;
    }

    /// <summary>The fewest connected peers that count as healthy.</summary>
    public int MinimumPeers { get; }

    /// <inheritdoc/>
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var listening = _host.ListenAddresses;
        int peers = _host.ConnectedPeers.Count;
        var data = new Dictionary<string, object>
        {
            ["peer_id"] = _host.PeerId.ToString(),
            ["listen_addresses"] = listening.Select(a => a.ToString()).ToArray(),
            ["peers"] = peers,
            ["private_network"] = _host.PrivateNetworkKeys.Key is not null,
        };
        HealthCheckResult result;
        if (_host.Options.ListenAddresses.Count > 0 && listening.Count == 0)
        {
            result = new HealthCheckResult(context.Registration.FailureStatus,
                $"Not listening: none of the {_host.Options.ListenAddresses.Count} configured addresses is bound (not started, or stopped).", data: data);
        }
        else if (peers < MinimumPeers)
        {
            result = HealthCheckResult.Degraded($"{peers} connected peer(s), fewer than the {MinimumPeers} expected.", data: data);
        }
        else
        {
            result = HealthCheckResult.Healthy($"Listening on {listening.Count} address(es), {peers} connected peer(s).", data);
        }
        return Task.FromResult(result);
    }
}
