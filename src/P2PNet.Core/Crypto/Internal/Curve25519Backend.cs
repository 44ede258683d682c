using System.Security.Cryptography;

namespace P2PNet.Crypto.Internal;

/// <summary>
/// Where X25519 (RFC 7748) and Ed25519 (RFC 8032) run: the system's OpenSSL 3 libcrypto, NSec (libsodium, shipped for
/// Linux, Windows and macOS) or the managed BouncyCastle code. The default takes, per curve, the fastest that loads
/// (measured in docs/dependencies.md: X25519 on OpenSSL, Ed25519 on NSec); the choice is made once, lazily.
/// </summary>
/// <remarks>Thread-safe: every member and every secret it creates may be used from any number of threads.</remarks>
internal abstract class Curve25519Backend
{
    /// <summary>Set to <c>1</c> to keep the managed code even where a native library loads (A/B benchmarks, diagnosis).</summary>
    public const string DisableNativeVariable = "P2PNET_DISABLE_NATIVE_CRYPTO";

    /// <summary>Key, public key and shared-secret length of X25519; key and public key length of Ed25519.</summary>
    public const int KeyLength = 32;

    /// <summary>Ed25519 signature length.</summary>
    public const int SignatureLength = 64;

    private static readonly Lazy<Curve25519Backend> LazyDefault = new(SelectDefault);

    /// <summary>The backend the library uses: X25519 on <see cref="OpenSsl"/>, else <see cref="NSec"/>; Ed25519 on
    /// <see cref="NSec"/>, else <see cref="OpenSsl"/>; <see cref="Managed"/> where neither loads.</summary>
    public static Curve25519Backend Default => LazyDefault.Value;

    /// <summary>The managed BouncyCastle implementation, available everywhere.</summary>
    public static Curve25519Backend Managed { get; } = new ManagedCurve25519();

    /// <summary>The system OpenSSL (3.0 or later) libcrypto, or <see langword="null"/> where it is missing or fails its self-test.</summary>
    public static Curve25519Backend? OpenSsl => OpenSslCurve25519.Instance;

    /// <summary>NSec (libsodium), or <see langword="null"/> where it cannot load or fails its self-test.</summary>
    public static Curve25519Backend? NSec => NSecCurve25519.Instance;

    private static Curve25519Backend SelectDefault()
    {
        if (Environment.GetEnvironmentVariable(DisableNativeVariable) == "1")
        {
            return Managed;
        }
        var x25519 = OpenSsl ?? NSec ?? Managed;
        var ed25519 = NSec ?? OpenSsl ?? Managed;
        return ReferenceEquals(x25519, ed25519) ? x25519 : new CompositeCurve25519(x25519, ed25519);
    }

    /// <summary>A short name for logs and test names.</summary>
    public abstract string Name { get; }

    /// <summary>Imports an X25519 private key (32 bytes; clamped as RFC 7748 §5 says). The caller keeps and wipes its copy.</summary>
    public abstract X25519Secret CreateX25519(ReadOnlySpan<byte> privateKey);

    /// <summary>Imports an Ed25519 private key seed (32 bytes). The caller keeps and wipes its copy.</summary>
    public abstract Ed25519Secret CreateEd25519(ReadOnlySpan<byte> seed);

    /// <summary>RFC 8032 §5.1.7 verification; <see langword="false"/> for any malformed key or signature, never throws for them.</summary>
    public abstract bool Ed25519Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature);

    /// <summary>RFC 7748 §6.1 and RFC 8032 §7.1 test 1, so a native library that loads but computes otherwise is not used.</summary>
    internal bool PassesKnownAnswers()
    {
        using var alice = CreateX25519(Convert.FromHexString("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
        Span<byte> shared = stackalloc byte[KeyLength];
        bool x25519 = alice.TryAgree(Convert.FromHexString("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"), shared)
            && Convert.ToHexStringLower(shared) == "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
        CryptographicOperations.ZeroMemory(shared);

        using var signer = CreateEd25519(Convert.FromHexString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
        Span<byte> signature = stackalloc byte[SignatureLength];
        signer.Sign([], signature);
        bool ed25519 = Convert.ToHexStringLower(signature) == "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
            && Ed25519Verify(signer.PublicKey, [], signature)
            && !Ed25519Verify(signer.PublicKey, [0], signature);
        return x25519 && ed25519;
    }

    /// <inheritdoc />
    public override string ToString() => Name;
}

/// <summary>An X25519 private key held by a <see cref="Curve25519Backend"/>.</summary>
/// <remarks>Thread-safe; <see cref="Dispose"/> wipes or frees the key and must not race the other members.</remarks>
internal abstract class X25519Secret : IDisposable
{
    /// <summary>The public key (32 bytes).</summary>
    public abstract ReadOnlySpan<byte> PublicKey { get; }

    /// <summary>X25519(this key, <paramref name="remotePublicKey"/>) into <paramref name="sharedSecret"/> (32 bytes).</summary>
    /// <returns><see langword="false"/> when the result is all zeros (a low-order remote point, RFC 7748 §6.1); the
    /// destination is then zeroed.</returns>
    public abstract bool TryAgree(ReadOnlySpan<byte> remotePublicKey, Span<byte> sharedSecret);

    /// <summary>Wipes or frees the private key.</summary>
    public abstract void Dispose();
}

/// <summary>An Ed25519 private key held by a <see cref="Curve25519Backend"/>.</summary>
/// <remarks>Thread-safe; <see cref="Dispose"/> wipes or frees the key and must not race the other members.</remarks>
internal abstract class Ed25519Secret : IDisposable
{
    /// <summary>The public key (32 bytes).</summary>
    public abstract ReadOnlySpan<byte> PublicKey { get; }

    /// <summary>Signs <paramref name="message"/> (pure Ed25519) into <paramref name="signature"/> (64 bytes).</summary>
    public abstract void Sign(ReadOnlySpan<byte> message, Span<byte> signature);

    /// <summary>Wipes or frees the private key.</summary>
    public abstract void Dispose();
}
