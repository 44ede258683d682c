namespace P2PNet.Swarm;

/// <summary>What this node is in a private swarm.</summary>
public enum SwarmRole
{
    /// <summary>The node that configured the swarm: it holds the authorised list and hands out the key.</summary>
    Owner,

    /// <summary>An authorised peer that fetches the key from the owner.</summary>
    Member,
}
