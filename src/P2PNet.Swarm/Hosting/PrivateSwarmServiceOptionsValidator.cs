using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Hosting;

namespace P2PNet.Swarm.Hosting;

/// <summary>Checks <see cref="PrivateSwarmServiceOptions"/> at start-up, naming the key of a bad setting.</summary>
internal sealed class PrivateSwarmServiceOptionsValidator(string prefix, IConfiguration? configuration = null) : IValidateOptions<PrivateSwarmServiceOptions>
{
    public ValidateOptionsResult Validate(string? name, PrivateSwarmServiceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var check = new OptionsCheck(prefix)
            .That(!string.IsNullOrWhiteSpace(options.StorePath), nameof(options.StorePath), "is required: the SQLite file the swarm is kept in.")
            .That(Enum.IsDefined(options.Role), nameof(options.Role), $"must be Owner or Member (was {options.Role}).")
            .Throwing(nameof(options.Limits), options.Limits.Validate)
            .EachParses(configuration, nameof(options.AuthorizedPeers), "a peer id", text => PeerId.Parse(text))
            .EachParses(configuration, nameof(options.Bootstrap), "a multiaddr", text => Multiaddr.Parse(text))
            .EachParses(configuration, nameof(options.OwnerAddresses), "a multiaddr", text => Multiaddr.Parse(text));
        // A member needs the owner unless its store already holds the membership.
        bool resumable = !string.IsNullOrWhiteSpace(options.StorePath) && File.Exists(options.StorePath);
        if (options.Role == SwarmRole.Member && !resumable)
        {
            check.That(!string.IsNullOrWhiteSpace(options.SwarmId), nameof(options.SwarmId), "is required for a member joining for the first time.")
                .That(options.Owner is not null, nameof(options.Owner), "is required for a member joining for the first time: the owner's peer id.")
                .That(options.OwnerAddresses.Count > 0, nameof(options.OwnerAddresses), "needs at least one address of the owner.");
        }
        return check.Result();
    }
}
