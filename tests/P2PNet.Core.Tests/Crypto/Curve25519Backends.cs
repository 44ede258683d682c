using P2PNet.Crypto.Internal;

namespace P2PNet.Core.Tests.Crypto;

/// <summary>Every X25519/Ed25519 backend this machine can run, so vector tests cover the fallbacks as well as the default.</summary>
public static class Curve25519Backends
{
    private static IEnumerable<Curve25519Backend> Available =>
        new[] { Curve25519Backend.Managed, OperatingSystem.IsLinux() ? RequireOpenSsl() : Curve25519Backend.OpenSsl, Curve25519Backend.NSec }
            .OfType<Curve25519Backend>();

    /// <summary>"managed" always; "openssl" where libcrypto 3 loads and "nsec" where libsodium does. On Linux a missing
    /// libcrypto 3 fails the tests instead of skipping the backend.</summary>
    public static IReadOnlyList<string> All => [.. Available.Select(b => b.Name)];

    /// <summary>The OpenSSL backend; fails the calling test where it does not load (on Linux it always must).</summary>
    internal static Curve25519Backend RequireOpenSsl() =>
        Curve25519Backend.OpenSsl ?? throw new Xunit.Sdk.XunitException(
            "The OpenSSL X25519/Ed25519 backend did not load (libcrypto.so.3 missing or unusable): install libssl3, or these tests compare nothing.");

    /// <summary><see cref="All"/> as theory data.</summary>
    public static TheoryData<string> Names => new(All);

    internal static Curve25519Backend Get(string name) =>
        Available.FirstOrDefault(b => b.Name == name) ?? throw new ArgumentException($"No backend '{name}' on this machine.", nameof(name));
}
