using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using P2PNet.Peers;
using P2PNet.Hosting;

namespace P2PNet.Vpn.Hosting;

/// <summary>Checks <see cref="VpnServiceOptions"/> at start-up, naming the key of a bad setting.</summary>
internal sealed class VpnServiceOptionsValidator(string prefix, IConfiguration? configuration = null) : IValidateOptions<VpnServiceOptions>
{
    public ValidateOptionsResult Validate(string? name, VpnServiceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var check = new OptionsCheck(prefix).Throwing(nameof(options.Vpn), options.Vpn.Validate)
            .EachParses(configuration, nameof(options.Members), "a peer id", text => PeerId.Parse(text));
        if (!options.Coordinator)
        {
            check.That(options.CoordinatorAddress is not null, nameof(options.CoordinatorAddress), "is required for a member: the coordinator's multiaddr.")
                .That(options.CoordinatorAddress is null || options.CoordinatorAddress.GetPeerId() is not null, nameof(options.CoordinatorAddress),
                    $"'{options.CoordinatorAddress}' has no /p2p/<peer id>: the member must know whose routing table to trust.");
        }
        if (!string.IsNullOrWhiteSpace(options.RequestedAddress))
        {
            bool parsed = IPAddress.TryParse(options.RequestedAddress, out var address);
            check.That(parsed && address!.AddressFamily == AddressFamily.InterNetwork, nameof(options.RequestedAddress),
                $"'{options.RequestedAddress}' is not an IPv4 address.");
        }
        check.That(!string.IsNullOrWhiteSpace(options.TunName) && options.TunName.Length < 16, nameof(options.TunName),
            "must be 1 to 15 characters (the kernel's interface name limit).");
        return check.Result();
    }
}
