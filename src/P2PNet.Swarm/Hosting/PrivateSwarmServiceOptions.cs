using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Swarm.Hosting;

/// <summary>
/// What <c>services.AddPrivateSwarm(…)</c> runs: an owner (creates or resumes the swarm in <see cref="StorePath"/>) or a
/// member (resumes the membership in <see cref="StorePath"/>, or fetches the key from <see cref="Owner"/>). Bound from
/// configuration like the host's options (peer ids and multiaddrs as strings).
/// </summary>
public sealed class PrivateSwarmServiceOptions
{
    /// <summary>Owner or member. Default <see cref="SwarmRole.Member"/>.</summary>
    public SwarmRole Role { get; set; } = SwarmRole.Member;

    /// <summary>The SQLite file the swarm is persisted in (created if missing, mode 0600). Required.</summary>
    public string? StorePath { get; set; }

    /// <summary>The swarm's id. Owner: the name of a new swarm (random when empty); member: required unless the store
    /// already holds the membership.</summary>
    public string? SwarmId { get; set; }

    /// <summary>Owner: peers authorised to fetch the key when the swarm is created (later changes go through
    /// <see cref="SwarmOwner.Authorize"/>). Default: none.</summary>
    public IList<PeerId> AuthorizedPeers { get; } = [];

    /// <summary>Owner: bootstrap addresses handed to members when the swarm is created. Default: none (members use the
    /// owner's addresses).</summary>
    public IList<Multiaddr> Bootstrap { get; } = [];

    /// <summary>Member: the owner's peer id; required unless the store already holds the membership.</summary>
    public PeerId? Owner { get; set; }

    /// <summary>Member: where to reach the owner for the key. Required with <see cref="Owner"/>.</summary>
    public IList<Multiaddr> OwnerAddresses { get; } = [];

    /// <summary>Whether the service joins the private swarm when the application starts (a member fetches the key first
    /// if it has none). Default true; false: call <c>JoinAsync</c> on <see cref="PrivateSwarmService.Owner"/> or
    /// <see cref="PrivateSwarmService.Member"/> yourself.</summary>
    public bool JoinOnStart { get; set; } = true;

    /// <summary>Limits and periods of the key exchange.</summary>
    public SwarmOptions Limits { get; set; } = new();
}
