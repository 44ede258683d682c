using P2PNet.Crypto.Internal;

namespace P2PNet.Core.Tests.Crypto;

/// <summary>Every X25519/Ed25519 backend this machine can run, so vector tests cover the fallback as well as the default.</summary>
public static class Curve25519Backends
{
    /// <summary>"managed" always; "openssl" on Linux, where a missing libcrypto 3 fails the tests instead of skipping the backend.</summary>
    public static IReadOnlyList<string> All =>
        OperatingSystem.IsLinux() ? [Curve25519Backend.Managed.Name, RequireOpenSsl().Name]
        : Curve25519Backend.OpenSsl is { } native ? [Curve25519Backend.Managed.Name, native.Name] : [Curve25519Backend.Managed.Name];

    /// <summary>The OpenSSL backend; fails the calling test where it does not load (on Linux it always must).</summary>
    internal static Curve25519Backend RequireOpenSsl() =>
        Curve25519Backend.OpenSsl ?? throw new Xunit.Sdk.XunitException(
            "The OpenSSL X25519/Ed25519 backend did not load (libcrypto.so.3 missing or unusable): install libssl3, or these tests compare nothing.");

    /// <summary><see cref="All"/> as theory data.</summary>
    public static TheoryData<string> Names => new(All);

    internal static Curve25519Backend Get(string name) =>
        name == Curve25519Backend.Managed.Name ? Curve25519Backend.Managed
        : Curve25519Backend.OpenSsl is { } native && name == native.Name ? native
        : throw new ArgumentException($"No backend '{name}' on this machine.", nameof(name));
}
