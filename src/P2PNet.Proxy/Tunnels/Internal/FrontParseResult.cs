namespace P2PNet.Proxy.Tunnels.Internal;

/// <summary>What a front's parser made of the bytes received so far.</summary>
internal enum FrontParseResult
{
    /// <summary>The head is incomplete: read more (up to the front's limit).</summary>
    NeedMore,

    /// <summary>The name was found.</summary>
    Found,

    /// <summary>The head is complete but names nothing (no Host header, no SNI).</summary>
    NoName,

    /// <summary>The bytes are not an HTTP/1.x request head or a TLS ClientHello.</summary>
    Malformed,
}
