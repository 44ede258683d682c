using System.Security.Cryptography;
using Org.BouncyCastle.Math.EC.Rfc7748;
using Org.BouncyCastle.Math.EC.Rfc8032;

namespace P2PNet.Crypto.Internal;

/// <summary>X25519 and Ed25519 in managed code (BouncyCastle); the fallback where OpenSSL 3 is not available.</summary>
internal sealed class ManagedCurve25519 : Curve25519Backend
{
    public override string Name => "managed";

    public override X25519Secret CreateX25519(ReadOnlySpan<byte> privateKey)
    {
        CheckLength(privateKey, "An X25519 private key");
        return new ManagedX25519Secret(privateKey.ToArray());
    }

    public override Ed25519Secret CreateEd25519(ReadOnlySpan<byte> seed)
    {
        CheckLength(seed, "An Ed25519 private key seed");
        return new ManagedEd25519Secret(seed.ToArray());
    }

    public override bool Ed25519Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        if (publicKey.Length != KeyLength || signature.Length != SignatureLength)
        {
            return false;
        }
        byte[] sig = signature.ToArray();
        byte[] key = publicKey.ToArray();
        byte[] data = message.ToArray();
        return Ed25519.Verify(sig, 0, key, 0, data, 0, data.Length);
    }

    internal static void CheckLength(ReadOnlySpan<byte> key, string what)
    {
        if (key.Length != KeyLength)
        {
            throw new ArgumentException($"{what} is {KeyLength} bytes, not {key.Length}.", nameof(key));
        }
    }

    private sealed class ManagedX25519Secret : X25519Secret
    {
        private readonly byte[] _private;
        private readonly byte[] _public = new byte[KeyLength];

        public ManagedX25519Secret(byte[] privateKey)
        {
            _private = privateKey;
            X25519.GeneratePublicKey(_private, 0, _public, 0);
        }

        public override ReadOnlySpan<byte> PublicKey => _public;

        public override bool TryAgree(ReadOnlySpan<byte> remotePublicKey, Span<byte> sharedSecret)
        {
            CheckLength(remotePublicKey, "An X25519 public key");
            byte[] remote = remotePublicKey.ToArray();
            byte[] shared = new byte[KeyLength];
            try
            {
                // BouncyCastle's result is false exactly when the output is all zeros.
                bool ok = X25519.CalculateAgreement(_private, 0, remote, 0, shared, 0);
                (ok ? shared : new byte[KeyLength]).CopyTo(sharedSecret);
                return ok;
            }
            finally
            {
                CryptographicOperations.ZeroMemory(shared);
            }
        }

        public override void Dispose() => CryptographicOperations.ZeroMemory(_private);
    }

    private sealed class ManagedEd25519Secret : Ed25519Secret
    {
        private readonly byte[] _seed;
        private readonly byte[] _public = new byte[KeyLength];

        public ManagedEd25519Secret(byte[] seed)
        {
            _seed = seed;
            Ed25519.GeneratePublicKey(_seed, 0, _public, 0);
        }

        public override ReadOnlySpan<byte> PublicKey => _public;

        public override void Sign(ReadOnlySpan<byte> message, Span<byte> signature)
        {
            byte[] data = message.ToArray();
            var sig = new byte[SignatureLength];
            Ed25519.Sign(_seed, 0, data, 0, data.Length, sig, 0);
            sig.CopyTo(signature);
        }

        public override void Dispose() => CryptographicOperations.ZeroMemory(_seed);
    }
}
