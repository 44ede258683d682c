namespace P2PNet.Core.Tests.NatTraversal;

/// <summary>The NAT namespace labs start a dozen processes each (nodes, js-libp2p, routers): they run alone, so that
/// their load does not distort the timing-sensitive tests that would otherwise run beside them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class NatLabGroup
{
    /// <summary>The collection's name.</summary>
    public const string Name = "nat-lab";
}
