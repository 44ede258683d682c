using System.Globalization;

namespace P2PNet.Proxy.Tunnels;

/// <summary>A device's token as the store lists it (the token itself is never stored).</summary>
/// <param name="Device">The device name the token is bound to.</param>
/// <param name="Created">When the token was issued.</param>
/// <param name="Revoked">When it was revoked; <see langword="null"/> while valid.</param>
public sealed record TunnelTokenInfo(string Device, DateTimeOffset Created, DateTimeOffset? Revoked)
{
    /// <summary>A one-line summary (for <c>p2pnet tunnel status</c>).</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Device} issued {Created:u}{(Revoked is { } r ? $" revoked {r:u}" : "")}");
}
