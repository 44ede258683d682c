using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace P2PNet.Crypto.Internal;

/// <summary>
/// X25519 and Ed25519 through the system OpenSSL 3 libcrypto (EVP_PKEY raw keys, EVP_PKEY_derive, one-shot
/// EVP_DigestSign/Verify), several times faster than the managed code. Every EVP object is freed on every path.
/// </summary>
/// <remarks>An <c>EVP_PKEY</c> is read-only once created, which OpenSSL allows to be used from many threads at once;
/// each operation makes its own context. Failures clear the thread's OpenSSL error queue, which the .NET runtime's
/// own OpenSSL calls share.</remarks>
internal sealed unsafe class OpenSslCurve25519 : Curve25519Backend
{
    private static readonly Lazy<OpenSslCurve25519?> LazyInstance = new(Load);

    private OpenSslCurve25519()
    {
    }

    /// <summary>The backend, or <see langword="null"/> when libcrypto 3 is missing, lacks a function or fails the self-test.</summary>
    public static OpenSslCurve25519? Instance => LazyInstance.Value;

    public override string Name => "openssl";

    public override X25519Secret CreateX25519(ReadOnlySpan<byte> privateKey)
    {
        ManagedCurve25519.CheckLength(privateKey, "An X25519 private key");
        return new OpenSslX25519Secret(ImportPrivate(LibCrypto.NidX25519, privateKey, out byte[] publicKey), publicKey);
    }

    public override Ed25519Secret CreateEd25519(ReadOnlySpan<byte> seed)
    {
        ManagedCurve25519.CheckLength(seed, "An Ed25519 private key seed");
        return new OpenSslEd25519Secret(ImportPrivate(LibCrypto.NidEd25519, seed, out byte[] publicKey), publicKey);
    }

    public override bool Ed25519Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        if (publicKey.Length != KeyLength || signature.Length != SignatureLength)
        {
            return false;
        }
        nint key = 0;
        nint md = 0;
        try
        {
            fixed (byte* pub = publicKey)
            fixed (byte* sig = signature)
            fixed (byte* data = NonNull(message))
            {
                key = LibCrypto.NewRawPublicKey(LibCrypto.NidEd25519, 0, pub, KeyLength);
                if (key == 0 || (md = LibCrypto.MdCtxNew()) == 0 || LibCrypto.DigestVerifyInit(md, 0, 0, 0, key) != 1)
                {
                    throw Failure("Ed25519 verification setup");
                }
                // 1: valid; 0: invalid signature; negative: malformed input. Only 1 accepts.
                int result = LibCrypto.DigestVerify(md, sig, SignatureLength, data, (nuint)message.Length);
                if (result != 1)
                {
                    LibCrypto.ClearError();
                }
                return result == 1;
            }
        }
        finally
        {
            if (md != 0)
            {
                LibCrypto.MdCtxFree(md);
            }
            if (key != 0)
            {
                LibCrypto.PKeyFree(key);
            }
        }
    }

    private static OpenSslCurve25519? Load()
    {
        try
        {
            if (!LibCrypto.TryLoad())
            {
                return null;
            }
            var backend = new OpenSslCurve25519();
            return backend.PassesKnownAnswers() ? backend : null;
        }
        catch (Exception e) when (e is CryptographicException or DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return null; // a broken or restricted (e.g. FIPS-only) libcrypto: the managed code serves
        }
    }

    private static LibCryptoKeyHandle ImportPrivate(int nid, ReadOnlySpan<byte> privateKey, out byte[] publicKey)
    {
        nint key;
        fixed (byte* priv = privateKey)
        {
            key = LibCrypto.NewRawPrivateKey(nid, 0, priv, KeyLength);
        }
        if (key == 0)
        {
            throw Failure("private key import");
        }
        var handle = new LibCryptoKeyHandle(key);
        publicKey = new byte[KeyLength];
        nuint length = KeyLength;
        fixed (byte* pub = publicKey)
        {
            if (LibCrypto.GetRawPublicKey(key, pub, &length) != 1 || length != KeyLength)
            {
                handle.Dispose();
                throw Failure("public key export");
            }
        }
        return handle;
    }

    private static CryptographicException Failure(string operation)
    {
        LibCrypto.ClearError();
        return new CryptographicException($"OpenSSL libcrypto failed in {operation}.");
    }

    // fixed over an empty span gives a null pointer, which OpenSSL's one-shot calls may take for "query the length".
    private static ReadOnlySpan<byte> NonNull(ReadOnlySpan<byte> data) => data.IsEmpty ? EmptyMessage : data;

    private static ReadOnlySpan<byte> EmptyMessage => [0];

    private sealed class OpenSslX25519Secret(LibCryptoKeyHandle key, byte[] publicKey) : X25519Secret
    {
        public override ReadOnlySpan<byte> PublicKey => publicKey;

        public override bool TryAgree(ReadOnlySpan<byte> remotePublicKey, Span<byte> sharedSecret)
        {
            ManagedCurve25519.CheckLength(remotePublicKey, "An X25519 public key");
            if (sharedSecret.Length < KeyLength)
            {
                throw new ArgumentException($"The shared secret is {KeyLength} bytes.", nameof(sharedSecret));
            }
            bool added = false;
            nint peer = 0;
            nint ctx = 0;
            try
            {
                key.DangerousAddRef(ref added);
                fixed (byte* remote = remotePublicKey)
                fixed (byte* shared = sharedSecret)
                {
                    peer = LibCrypto.NewRawPublicKey(LibCrypto.NidX25519, 0, remote, KeyLength);
                    ctx = peer == 0 ? 0 : LibCrypto.PKeyCtxNew(key.DangerousGetHandle(), 0);
                    if (ctx == 0 || LibCrypto.DeriveInit(ctx) != 1 || LibCrypto.DeriveSetPeer(ctx, peer, 0) != 1)
                    {
                        throw Failure("X25519 setup");
                    }
                    nuint length = KeyLength;
                    // OpenSSL refuses (returns 0) when the result is all zeros: a low-order remote point.
                    if (LibCrypto.Derive(ctx, shared, &length) != 1 || length != KeyLength)
                    {
                        LibCrypto.ClearError();
                        sharedSecret[..KeyLength].Clear();
                        return false;
                    }
                    return true;
                }
            }
            finally
            {
                if (ctx != 0)
                {
                    LibCrypto.PKeyCtxFree(ctx);
                }
                if (peer != 0)
                {
                    LibCrypto.PKeyFree(peer);
                }
                if (added)
                {
                    key.DangerousRelease();
                }
            }
        }

        public override void Dispose() => key.Dispose();
    }

    private sealed class OpenSslEd25519Secret(LibCryptoKeyHandle key, byte[] publicKey) : Ed25519Secret
    {
        public override ReadOnlySpan<byte> PublicKey => publicKey;

        public override void Sign(ReadOnlySpan<byte> message, Span<byte> signature)
        {
            if (signature.Length < SignatureLength)
            {
                throw new ArgumentException($"An Ed25519 signature is {SignatureLength} bytes.", nameof(signature));
            }
            bool added = false;
            nint md = 0;
            try
            {
                key.DangerousAddRef(ref added);
                fixed (byte* data = NonNull(message))
                fixed (byte* sig = signature)
                {
                    nuint length = SignatureLength;
                    if ((md = LibCrypto.MdCtxNew()) == 0
                        || LibCrypto.DigestSignInit(md, 0, 0, 0, key.DangerousGetHandle()) != 1
                        || LibCrypto.DigestSign(md, sig, &length, data, (nuint)message.Length) != 1
                        || length != SignatureLength)
                    {
                        throw Failure("Ed25519 signing");
                    }
                }
            }
            finally
            {
                if (md != 0)
                {
                    LibCrypto.MdCtxFree(md);
                }
                if (added)
                {
                    key.DangerousRelease();
                }
            }
        }

        public override void Dispose() => key.Dispose();
    }
}
