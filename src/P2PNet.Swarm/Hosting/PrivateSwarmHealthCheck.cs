using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace P2PNet.Swarm.Hosting;

/// <summary>
/// Reports the swarm key state of a <see cref="PrivateSwarmService"/>: healthy while the node is in the private swarm with
/// a key, <see cref="HealthStatus.Degraded"/> while it holds the key but is on the public network (left, or not joined
/// yet), the registration's failure status before the service has started or while a member has no key.
/// </summary>
public sealed class PrivateSwarmHealthCheck(PrivateSwarmService service) : IHealthCheck
{
    /// <inheritdoc/>
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(service);
        if (service.GetStatus() is not { } status)
        {
            return Task.FromResult(new HealthCheckResult(context.Registration.FailureStatus, "The private swarm has not started."));
        }
        var data = new Dictionary<string, object>
        {
            ["swarm_id"] = status.SwarmId,
            ["role"] = status.Role.ToString(),
            ["private"] = status.IsPrivate,
            ["key_fingerprint"] = status.KeyFingerprint ?? "",
            ["connected_members"] = status.ConnectedMembers.Count,
        };
        if (status.GraceUntil is { } grace)
        {
            data["grace_until"] = grace.ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        }
        HealthCheckResult result = status.KeyFingerprint is null
            ? new HealthCheckResult(context.Registration.FailureStatus, $"No key for swarm '{status.SwarmId}' yet.", data: data)
            : !service.IsJoined
                ? HealthCheckResult.Degraded($"Holding the key of swarm '{status.SwarmId}' but on the public network.", data: data)
                : HealthCheckResult.Healthy($"In swarm '{status.SwarmId}' ({status.Role}), key {status.KeyFingerprint}, {status.ConnectedMembers.Count} member(s) connected.", data);
        return Task.FromResult(result);
    }
}
