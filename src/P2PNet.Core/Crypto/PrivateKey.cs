using System.Security.Cryptography;
using P2PNet.IO.Internal;

namespace P2PNet.Crypto;

/// <summary>
/// A node's private identity key. Signs, exposes its <see cref="PublicKey"/>, and reads and writes libp2p's protobuf
/// encoding, so key files are interchangeable with go- and js-libp2p.
/// </summary>
/// <remarks>Thread-safe. <see cref="Dispose()"/> wipes the key bytes held by this instance.</remarks>
public abstract class PrivateKey : IDisposable
{
    private protected PrivateKey()
    {
    }

    /// <summary>The key algorithm.</summary>
    public abstract KeyType Type { get; }

    /// <summary>The matching public key.</summary>
    public abstract PublicKey PublicKey { get; }

    /// <summary>Signs <paramref name="data"/> the way libp2p does for this key type.</summary>
    public abstract byte[] Sign(ReadOnlySpan<byte> data);

    /// <summary>The key bytes as carried in the protobuf envelope's <c>Data</c> field. Treat as a secret.</summary>
    protected abstract byte[] ExportData();

    /// <summary>The libp2p protobuf encoding (<c>PrivateKey { Type, Data }</c>). Treat as a secret.</summary>
    public byte[] ToProtobuf()
    {
        byte[] data = ExportData();
        try
        {
            return KeyEnvelope.Encode(Type, data);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(data);
        }
    }

    /// <summary>Generates a new Ed25519 key from the system's secure random source.</summary>
    public static PrivateKey GenerateEd25519() => Ed25519PrivateKey.Generate();

    /// <summary>Decodes a key from libp2p's protobuf encoding (the format of go/js libp2p key files).</summary>
    /// <exception cref="WireFormatException">The bytes are not a valid encoded private key.</exception>
    public static PrivateKey FromProtobuf(ReadOnlySpan<byte> encoded)
    {
        var (type, data) = KeyEnvelope.Decode(encoded, "private key");
        try
        {
            return type switch
            {
                KeyType.Ed25519 => Ed25519PrivateKey.FromData(data),
                KeyType.Secp256k1 => Secp256k1PrivateKey.FromData(data),
                KeyType.Ecdsa => EcdsaPrivateKey.FromData(data),
                KeyType.Rsa => RsaPrivateKey.FromData(data),
                _ => throw new WireFormatException($"Unknown key type {(int)type}."),
            };
        }
        finally
        {
            CryptographicOperations.ZeroMemory(data);
        }
    }

    /// <summary>Reads a key file written by <see cref="WriteFile"/>, <c>p2pnet key new</c>, or go/js libp2p.</summary>
    /// <exception cref="WireFormatException">The file does not hold a valid encoded private key.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static PrivateKey ReadFile(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        try
        {
            return FromProtobuf(bytes);
        }
        catch (WireFormatException e)
        {
            throw new WireFormatException($"'{path}' is not a libp2p private key file: {e.Message}", e);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    /// <summary>
    /// Writes the protobuf encoding to <paramref name="path"/>, readable only by the owner (0600) where the OS supports it,
    /// also when it replaces an existing file with a more permissive mode.
    /// </summary>
    public void WriteFile(string path)
    {
        byte[] bytes = ToProtobuf();
        try
        {
            SecretFile.WriteAllBytes(path, bytes);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    /// <summary>Wipes the key material held by this instance.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Wipes the key material; override to release algorithm-specific state.</summary>
    protected virtual void Dispose(bool disposing)
    {
    }
}
