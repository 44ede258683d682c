using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace P2PNet.Security.Noise.Internal;

/// <summary>
/// A Noise <c>SymmetricState</c> with SHA-256 (Noise spec §5.2): the chaining key <c>ck</c>, the handshake hash
/// <c>h</c> and the handshake's <see cref="CipherState"/>.
/// </summary>
/// <remarks>Not thread-safe. <see cref="Dispose"/> wipes <c>ck</c>, <c>h</c> and the key.</remarks>
internal sealed class SymmetricState : IDisposable
{
    /// <summary>HASHLEN for SHA-256.</summary>
    public const int HashLength = 32;

    private readonly byte[] _chainingKey = new byte[HashLength];
    private readonly byte[] _hash = new byte[HashLength];
    private readonly CipherState _cipher = new();

    /// <summary>InitializeSymmetric(protocol_name).</summary>
    public SymmetricState(string protocolName)
    {
        byte[] name = Encoding.ASCII.GetBytes(protocolName);
        if (name.Length <= HashLength)
        {
            name.CopyTo(_hash, 0); // zero-padded to HASHLEN
        }
        else
        {
            SHA256.HashData(name, _hash);
        }
        _hash.CopyTo(_chainingKey, 0);
    }

    /// <summary>The handshake hash <c>h</c> (channel binding once the handshake is complete).</summary>
    public ReadOnlySpan<byte> HandshakeHash => _hash;

    /// <summary>Whether MixKey has run (payloads are encrypted from then on).</summary>
    public bool HasKey => _cipher.HasKey;

    /// <summary>MixKey(input_key_material): <c>ck, temp_k = HKDF(ck, ikm, 2)</c>; InitializeKey(temp_k).</summary>
    public void MixKey(ReadOnlySpan<byte> inputKeyMaterial)
    {
        Span<byte> chainingKey = stackalloc byte[HashLength];
        Span<byte> key = stackalloc byte[HashLength];
        Hkdf(_chainingKey, inputKeyMaterial, chainingKey, key);
        chainingKey.CopyTo(_chainingKey);
        _cipher.InitializeKey(key);
        CryptographicOperations.ZeroMemory(chainingKey);
        CryptographicOperations.ZeroMemory(key);
    }

    /// <summary>MixHash(data): <c>h = HASH(h || data)</c>.</summary>
    /// <remarks>One-shot over <c>h || data</c> in one buffer: an <see cref="IncrementalHash"/> per call costs an OpenSSL
    /// digest context (allocated, initialised, freed), and a handshake mixes ten times per side.</remarks>
    public void MixHash(ReadOnlySpan<byte> data)
    {
        // Handshake messages are at most 65,535 bytes; those with a payload are the only ones above the stack budget.
        const int StackLimit = 512;
        int length = HashLength + data.Length;
        byte[]? rented = length > StackLimit ? ArrayPool<byte>.Shared.Rent(length) : null;
        Span<byte> input = rented is null ? stackalloc byte[StackLimit] : rented;
        input = input[..length];
        _hash.CopyTo(input);
        data.CopyTo(input[HashLength..]);
        SHA256.HashData(input, _hash);
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented); // h and the data are public (the data is on the wire): no wipe needed
        }
    }

    /// <summary>EncryptAndHash(plaintext): encrypt with <c>h</c> as associated data, then MixHash(ciphertext).</summary>
    /// <returns>The bytes written to <paramref name="destination"/>.</returns>
    public int EncryptAndHash(ReadOnlySpan<byte> plaintext, Span<byte> destination)
    {
        int written = _cipher.EncryptWithAd(_hash, plaintext, destination);
        MixHash(destination[..written]);
        return written;
    }

    /// <summary>DecryptAndHash(ciphertext): decrypt with <c>h</c> as associated data, then MixHash(ciphertext).</summary>
    /// <returns>The plaintext bytes written to <paramref name="destination"/>.</returns>
    /// <exception cref="CryptographicException">Authentication failed.</exception>
    public int DecryptAndHash(ReadOnlySpan<byte> ciphertext, Span<byte> destination)
    {
        int written = _cipher.DecryptWithAd(_hash, ciphertext, destination);
        MixHash(ciphertext);
        return written;
    }

    /// <summary>The length EncryptAndHash produces for <paramref name="plaintextLength"/> bytes.</summary>
    public int EncryptedLength(int plaintextLength) => plaintextLength + (HasKey ? CipherState.TagLength : 0);

    /// <summary>Split(): <c>temp_k1, temp_k2 = HKDF(ck, zerolen, 2)</c>; the first for initiator→responder.</summary>
    public (CipherState InitiatorToResponder, CipherState ResponderToInitiator) Split()
    {
        Span<byte> k1 = stackalloc byte[HashLength];
        Span<byte> k2 = stackalloc byte[HashLength];
        Hkdf(_chainingKey, [], k1, k2);
        var c1 = new CipherState();
        var c2 = new CipherState();
        c1.InitializeKey(k1);
        c2.InitializeKey(k2);
        CryptographicOperations.ZeroMemory(k1);
        CryptographicOperations.ZeroMemory(k2);
        return (c1, c2);
    }

    /// <summary>
    /// Noise's HKDF (spec §4.3): <c>temp_key = HMAC(ck, ikm)</c>, <c>output1 = HMAC(temp_key, 0x01)</c>,
    /// <c>output2 = HMAC(temp_key, output1 || 0x02)</c>, <c>output3 = HMAC(temp_key, output2 || 0x03)</c>.
    /// This is RFC 5869 HKDF-SHA256 with salt = <paramref name="chainingKey"/> and empty info.
    /// </summary>
    /// <remarks>Outputs may not overlap the inputs; pass an empty <paramref name="output3"/> for two outputs.</remarks>
    public static void Hkdf(ReadOnlySpan<byte> chainingKey, ReadOnlySpan<byte> inputKeyMaterial, Span<byte> output1, Span<byte> output2, Span<byte> output3 = default)
    {
        // Separate input and output blocks: HMAC never reads and writes the same memory.
        Span<byte> tempKey = stackalloc byte[HashLength];
        Span<byte> input = stackalloc byte[HashLength + 1];
        Span<byte> output = stackalloc byte[HashLength];
        HMACSHA256.HashData(chainingKey, inputKeyMaterial, tempKey);

        input[0] = 0x01;
        HMACSHA256.HashData(tempKey, input[..1], output);
        output.CopyTo(output1);

        output.CopyTo(input);
        input[HashLength] = 0x02;
        HMACSHA256.HashData(tempKey, input, output);
        output.CopyTo(output2);

        if (!output3.IsEmpty)
        {
            output.CopyTo(input);
            input[HashLength] = 0x03;
            HMACSHA256.HashData(tempKey, input, output);
            output.CopyTo(output3);
        }
        CryptographicOperations.ZeroMemory(tempKey);
        CryptographicOperations.ZeroMemory(input);
        CryptographicOperations.ZeroMemory(output);
    }

    /// <summary>Wipes <c>ck</c>, <c>h</c> and the handshake key.</summary>
    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_chainingKey);
        CryptographicOperations.ZeroMemory(_hash);
        _cipher.Dispose();
    }
}
