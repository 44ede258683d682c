namespace P2PNet.Swarm;

/// <summary>The protocol ids of private swarms (docs/private-swarms.md).</summary>
public static class SwarmProtocols
{
    /// <summary>Key exchange: a signed request, a signed response carrying the sealed swarm key.</summary>
    public const string KeyExchange = "/p2pnet/swarm/key-exchange/1.0.0";

    /// <summary>The owner's signed "swarm key changed" notification.</summary>
    public const string Notify = "/p2pnet/swarm/notify/1.0.0";
}
