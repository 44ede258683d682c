using System.Security.Cryptography;
using NSec.Cryptography;
using NSecPublicKey = NSec.Cryptography.PublicKey;

namespace P2PNet.Crypto.Internal;

/// <summary>
/// X25519 and Ed25519 through NSec.Cryptography (libsodium, shipped in the package for Linux, Windows and macOS), so
/// every platform gets native curves, not only those with a system OpenSSL 3.
/// </summary>
/// <remarks>NSec keys are immutable once imported and libsodium's operations are reentrant, so a key may be used from
/// many threads at once. Raw private keys are imported with plaintext export disallowed; only the X25519 result is
/// exported (Noise mixes the raw DH output into its own HKDF chain).</remarks>
internal sealed class NSecCurve25519 : Curve25519Backend
{
    private static readonly Lazy<NSecCurve25519?> LazyInstance = new(Load);

    private NSecCurve25519()
    {
    }

    /// <summary>The backend, or <see langword="null"/> when libsodium cannot load here or fails the self-test.</summary>
    public static NSecCurve25519? Instance => LazyInstance.Value;

    public override string Name => "nsec";

    public override X25519Secret CreateX25519(ReadOnlySpan<byte> privateKey)
    {
        ManagedCurve25519.CheckLength(privateKey, "An X25519 private key");
        return new NSecX25519Secret(Key.Import(KeyAgreementAlgorithm.X25519, privateKey, KeyBlobFormat.RawPrivateKey));
    }

    public override Ed25519Secret CreateEd25519(ReadOnlySpan<byte> seed)
    {
        ManagedCurve25519.CheckLength(seed, "An Ed25519 private key seed");
        return new NSecEd25519Secret(Key.Import(SignatureAlgorithm.Ed25519, seed, KeyBlobFormat.RawPrivateKey));
    }

    public override bool Ed25519Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        if (publicKey.Length != KeyLength || signature.Length != SignatureLength
            || !NSecPublicKey.TryImport(SignatureAlgorithm.Ed25519, publicKey, KeyBlobFormat.RawPublicKey, out var key))
        {
            return false;
        }
        return SignatureAlgorithm.Ed25519.Verify(key!, message, signature);
    }

    private static NSecCurve25519? Load()
    {
        try
        {
            var backend = new NSecCurve25519();
            return backend.PassesKnownAnswers() ? backend : null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException
            or TypeInitializationException or InvalidOperationException or PlatformNotSupportedException)
        {
            return null; // libsodium is not available for this platform: another backend serves
        }
    }

    private sealed class NSecX25519Secret(Key key) : X25519Secret
    {
        private readonly byte[] _public = key.PublicKey.Export(KeyBlobFormat.RawPublicKey);

        public override ReadOnlySpan<byte> PublicKey => _public;

        public override bool TryAgree(ReadOnlySpan<byte> remotePublicKey, Span<byte> sharedSecret)
        {
            ManagedCurve25519.CheckLength(remotePublicKey, "An X25519 public key");
            if (!NSecPublicKey.TryImport(KeyAgreementAlgorithm.X25519, remotePublicKey, KeyBlobFormat.RawPublicKey, out var remote))
            {
                sharedSecret[..KeyLength].Clear();
                return false;
            }
            // libsodium refuses an all-zero result (a low-order remote point, RFC 7748 §6.1): Agree returns null then.
            var exportable = new SharedSecretCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport };
            using var secret = KeyAgreementAlgorithm.X25519.Agree(key, remote!, in exportable);
            if (secret is null || !secret.TryExport(SharedSecretBlobFormat.RawSharedSecret, sharedSecret, out int written) || written != KeyLength)
            {
                CryptographicOperations.ZeroMemory(sharedSecret[..KeyLength]);
                return false;
            }
            return true;
        }

        public override void Dispose() => key.Dispose();
    }

    private sealed class NSecEd25519Secret(Key key) : Ed25519Secret
    {
        private readonly byte[] _public = key.PublicKey.Export(KeyBlobFormat.RawPublicKey);

        public override ReadOnlySpan<byte> PublicKey => _public;

        public override void Sign(ReadOnlySpan<byte> message, Span<byte> signature) =>
            SignatureAlgorithm.Ed25519.Sign(key, message, signature);

        public override void Dispose() => key.Dispose();
    }
}
