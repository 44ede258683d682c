using System.Buffers.Binary;
using System.Security.Cryptography;

namespace P2PNet.Security.Noise.Internal;

/// <summary>
/// A Noise <c>CipherState</c> with ChaChaPoly (Noise spec §5.1, §12.3): a key and a 64-bit nonce counter.
/// The 96-bit ChaCha20-Poly1305 nonce is 32 zero bits followed by the counter in little-endian.
/// </summary>
/// <remarks>Not thread-safe: each direction of a channel owns one instance and uses it from one loop.
/// One <see cref="ChaCha20Poly1305"/> instance is kept per key, never created per message.
/// <see cref="Dispose"/> releases the key.</remarks>
internal sealed class CipherState : IDisposable
{
    /// <summary>The Poly1305 tag length.</summary>
    public const int TagLength = 16;

    /// <summary>The key length.</summary>
    public const int KeyLength = 32;

    private const int NonceLength = 12;

    private ChaCha20Poly1305? _aead;
    private ulong _nonce;

    /// <summary>Whether a key is set (before the first MixKey, handshake payloads travel in clear).</summary>
    public bool HasKey => _aead is not null;

    /// <summary>The next nonce.</summary>
    public ulong Nonce => _nonce;

    /// <summary>InitializeKey(k): sets the key and resets the nonce.</summary>
    public void InitializeKey(ReadOnlySpan<byte> key)
    {
        _aead?.Dispose();
        _aead = new ChaCha20Poly1305(key);
        _nonce = 0;
    }

    /// <summary>EncryptWithAd: ciphertext and tag into <paramref name="destination"/> (plaintext copied as is without a key).</summary>
    /// <returns>The bytes written: the plaintext length, plus <see cref="TagLength"/> when a key is set.</returns>
    public int EncryptWithAd(ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> plaintext, Span<byte> destination)
    {
        if (_aead is null)
        {
            plaintext.CopyTo(destination);
            return plaintext.Length;
        }
        Span<byte> nonce = stackalloc byte[NonceLength];
        TakeNonce(nonce);
        _aead.Encrypt(nonce, plaintext, destination[..plaintext.Length], destination.Slice(plaintext.Length, TagLength), associatedData);
        return plaintext.Length + TagLength;
    }

    /// <summary>DecryptWithAd: plaintext of <paramref name="ciphertext"/> (which ends with the tag) into <paramref name="destination"/>.</summary>
    /// <returns>The plaintext length.</returns>
    /// <exception cref="CryptographicException">The tag does not match; the nonce is not advanced.</exception>
    public int DecryptWithAd(ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> ciphertext, Span<byte> destination)
    {
        if (_aead is null)
        {
            ciphertext.CopyTo(destination);
            return ciphertext.Length;
        }
        if (ciphertext.Length < TagLength)
        {
            throw new CryptographicException("The ciphertext is shorter than its authentication tag.");
        }
        int length = ciphertext.Length - TagLength;
        Decrypt(ciphertext[..length], ciphertext[length..], destination[..length], associatedData);
        return length;
    }

    /// <summary>Encrypts one transport message. <paramref name="ciphertext"/> may be the same memory as <paramref name="plaintext"/>.</summary>
    public void Encrypt(ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag)
    {
        Span<byte> nonce = stackalloc byte[NonceLength];
        TakeNonce(nonce);
        Aead.Encrypt(nonce, plaintext, ciphertext, tag);
    }

    /// <summary>Decrypts one transport message. <paramref name="plaintext"/> may be the same memory as <paramref name="ciphertext"/>.</summary>
    /// <exception cref="CryptographicException">The tag does not match; the nonce is not advanced.</exception>
    public void Decrypt(ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> associatedData = default)
    {
        Span<byte> nonce = stackalloc byte[NonceLength];
        WriteNonce(nonce, _nonce);
        Aead.Decrypt(nonce, ciphertext, tag, plaintext, associatedData);
        _nonce++;
    }

    /// <summary>Releases the key.</summary>
    public void Dispose()
    {
        _aead?.Dispose();
        _aead = null;
    }

    private ChaCha20Poly1305 Aead => _aead ?? throw new InvalidOperationException("The cipher state has no key.");

    private void TakeNonce(Span<byte> nonce)
    {
        WriteNonce(nonce, _nonce);
        _nonce++;
    }

    private static void WriteNonce(Span<byte> nonce, ulong counter)
    {
        // 2^64-1 is reserved (Noise spec §5.1): a channel that reaches it must be closed, never wrap around.
        if (counter == ulong.MaxValue)
        {
            throw new CryptographicException("The Noise nonce is exhausted; the channel must be closed.");
        }
        BinaryPrimitives.WriteUInt32LittleEndian(nonce, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(nonce[4..], counter);
    }
}
