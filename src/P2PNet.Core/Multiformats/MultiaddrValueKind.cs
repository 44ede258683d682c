namespace P2PNet.Multiformats;

/// <summary>How a multiaddr protocol's value is carried.</summary>
public enum MultiaddrValueKind
{
    /// <summary>No value (<c>/ws</c>, <c>/noise</c>).</summary>
    None,

    /// <summary>A fixed number of bytes (<c>/ip4</c>: 4, <c>/tcp</c>: 2).</summary>
    Fixed,

    /// <summary>A varint length then the bytes (<c>/dns</c>, <c>/p2p</c>).</summary>
    LengthPrefixed,

    /// <summary>Like <see cref="LengthPrefixed"/>, but in text it takes the rest of the address (<c>/unix</c>).</summary>
    Path,
}
