namespace P2PNet.Crypto.Internal;

/// <summary>
/// Where X25519 (RFC 7748) and Ed25519 (RFC 8032) run: the system's OpenSSL 3 libcrypto when it loads, otherwise the
/// managed BouncyCastle code. Both give the same answers on the same inputs; the choice is made once, lazily.
/// </summary>
/// <remarks>Thread-safe: every member and every secret it creates may be used from any number of threads.</remarks>
internal abstract class Curve25519Backend
{
    /// <summary>Set to <c>1</c> to keep the managed code even where OpenSSL loads (A/B benchmarks, diagnosis).</summary>
    public const string DisableNativeVariable = "P2PNET_DISABLE_NATIVE_CRYPTO";

    /// <summary>Key, public key and shared-secret length of X25519; key and public key length of Ed25519.</summary>
    public const int KeyLength = 32;

    /// <summary>Ed25519 signature length.</summary>
    public const int SignatureLength = 64;

    private static readonly Lazy<Curve25519Backend> LazyDefault = new(SelectDefault);

    /// <summary>The backend the library uses: <see cref="OpenSsl"/> when available, else <see cref="Managed"/>.</summary>
    public static Curve25519Backend Default => LazyDefault.Value;

    /// <summary>The managed BouncyCastle implementation, available everywhere.</summary>
    public static Curve25519Backend Managed { get; } = new ManagedCurve25519();

    /// <summary>The system OpenSSL (3.0 or later) libcrypto, or <see langword="null"/> where it is missing or fails its self-test.</summary>
    public static Curve25519Backend? OpenSsl => OpenSslCurve25519.Instance;

    private static Curve25519Backend SelectDefault() =>
        Environment.GetEnvironmentVariable(DisableNativeVariable) == "1" ? Managed : OpenSsl ?? Managed;

    /// <summary>A short name for logs and test names.</summary>
    public abstract string Name { get; }

    /// <summary>Imports an X25519 private key (32 bytes; clamped as RFC 7748 §5 says). The caller keeps and wipes its copy.</summary>
    public abstract X25519Secret CreateX25519(ReadOnlySpan<byte> privateKey);

    /// <summary>Imports an Ed25519 private key seed (32 bytes). The caller keeps and wipes its copy.</summary>
    public abstract Ed25519Secret CreateEd25519(ReadOnlySpan<byte> seed);

    /// <summary>RFC 8032 §5.1.7 verification; <see langword="false"/> for any malformed key or signature, never throws for them.</summary>
    public abstract bool Ed25519Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature);

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
