using P2PNet.Crypto.Internal;

namespace P2PNet.Core.Tests.Crypto;

/// <summary>Every X25519/Ed25519 backend this machine can run, so vector tests cover the fallbacks as well as the default.</summary>
public static class Curve25519Backends
{
    private static IEnumerable<Curve25519Backend> Available =>
        new[] { Curve25519Backend.Managed, Curve25519Backend.OpenSsl, Curve25519Backend.NSec }.OfType<Curve25519Backend>();

    /// <summary>"managed" always; "openssl" where libcrypto 3 loads and "nsec" where libsodium does (Linux CI has both).</summary>
    public static IReadOnlyList<string> All => [.. Available.Select(b => b.Name)];

    /// <summary><see cref="All"/> as theory data.</summary>
    public static TheoryData<string> Names => new(All);

    internal static Curve25519Backend Get(string name) =>
        Available.FirstOrDefault(b => b.Name == name) ?? throw new ArgumentException($"No backend '{name}' on this machine.", nameof(name));
}
