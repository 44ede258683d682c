using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace P2PNet.Vpn.Hosting;

/// <summary>Reports whether the VPN of a <see cref="VpnService"/> is up: healthy while it has its private address and a
/// routing table, the registration's failure status otherwise (not started, not admitted, stopped or removed).</summary>
public sealed class VpnHealthCheck(VpnService service) : IHealthCheck
{
    /// <inheritdoc/>
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(service);
        var network = service.Endpoint;
        if (network?.Address is not { } address || network.RoutingTable is not { } table)
        {
            return Task.FromResult(new HealthCheckResult(context.Registration.FailureStatus,
                network is null ? "The VPN has not started." : "The VPN is down: no private address or routing table."));
        }
        var data = new Dictionary<string, object>
        {
            ["address"] = address.ToString(),
            ["vpn_id"] = network.VpnId ?? "",
            ["coordinator"] = network is VpnCoordinator,
            ["members"] = table.Members.Count,
            ["table_version"] = table.Version,
        };
        return Task.FromResult(HealthCheckResult.Healthy($"Up as {address} in {table.Network}, {table.Members.Count} member(s).", data));
    }
}
