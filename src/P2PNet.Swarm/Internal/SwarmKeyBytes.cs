using P2PNet.Security.Pnet;

namespace P2PNet.Swarm.Internal;

/// <summary>The 32 bytes of a <see cref="SwarmKey"/>, read through its public key-file text (the raw bytes are internal to P2PNet.Core).</summary>
internal static class SwarmKeyBytes
{
    public static byte[] Get(SwarmKey key)
    {
        string text = key.ToFileText();
        string hex = text.Split('\n')[2];
        return Convert.FromHexString(hex);
    }
}
