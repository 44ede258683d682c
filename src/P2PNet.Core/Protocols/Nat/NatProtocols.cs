namespace P2PNet.Protocols.Nat;

/// <summary>The protocol ids of NAT traversal (libp2p/specs autonat/ and relay/DCUtR.md).</summary>
public static class NatProtocols
{
    /// <summary>AutoNAT v1: a peer asks us to dial it back on the addresses it lists.</summary>
    public const string AutoNatV1 = "/libp2p/autonat/1.0.0";

    /// <summary>AutoNAT v2: a peer asks us to dial back one of its addresses and prove it with a nonce.</summary>
    public const string AutoNatV2DialRequest = "/libp2p/autonat/2/dial-request";

    /// <summary>AutoNAT v2: the dial-back stream on which a server sends the client's nonce.</summary>
    public const string AutoNatV2DialBack = "/libp2p/autonat/2/dial-back";

    /// <summary>Direct Connection Upgrade through Relay: two peers connected through a relay synchronise a hole punch.</summary>
    public const string HolePunch = "/libp2p/dcutr";
}
