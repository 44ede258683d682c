using System.Buffers;
using System.Security.Cryptography;

namespace P2PNet.Vpn.Internal;

/// <summary>VPN ids: 16 random bytes as 32 lowercase hex characters, the form the gateway and inbound-proxy designs use
/// (docs/vpn.md, "Several VPNs per host").</summary>
internal static class VpnIds
{
    public const int Length = 32;

    private static readonly SearchValues<char> LowerHex = SearchValues.Create("0123456789abcdef");

    /// <summary>A new random id.</summary>
    public static string Generate() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(Length / 2));

    /// <summary>Whether <paramref name="id"/> is 32 lowercase hex characters.</summary>
    public static bool IsValid(string? id) =>
        id is { Length: Length } && !id.AsSpan().ContainsAnyExcept(LowerHex);

    /// <summary>The protocol id <paramref name="baseId"/> of VPN <paramref name="vpnId"/>: <c>&lt;base&gt;/&lt;vpn id&gt;</c>.</summary>
    public static string Protocol(string baseId, string vpnId) => baseId + "/" + vpnId;
}
