using P2PNet.Crypto.Internal;

namespace P2PNet.Core.Tests.Crypto;

/// <summary>Every X25519/Ed25519 backend this machine can run, so vector tests cover the fallback as well as the default.</summary>
public static class Curve25519Backends
{
    /// <summary>"managed" always; "openssl" where libcrypto 3 loads (Linux CI does).</summary>
    public static IReadOnlyList<string> All =>
        Curve25519Backend.OpenSsl is { } native ? [Curve25519Backend.Managed.Name, native.Name] : [Curve25519Backend.Managed.Name];

    /// <summary><see cref="All"/> as theory data.</summary>
    public static TheoryData<string> Names => new(All);

    internal static Curve25519Backend Get(string name) =>
        name == Curve25519Backend.Managed.Name ? Curve25519Backend.Managed
        : Curve25519Backend.OpenSsl is { } native && name == native.Name ? native
        : throw new ArgumentException($"No backend '{name}' on this machine.", nameof(name));
}
