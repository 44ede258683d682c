using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Crypto.Digests;
using P2PNet.IO.Internal;

namespace P2PNet.Security.Pnet;

/// <summary>
/// A libp2p private-network pre-shared key (PSK v1, libp2p/specs pnet/Private-Networks-PSK-V1.md): 32 secret bytes
/// shared by every member of a private swarm. Reads the key-file format go-, rust- and js-libp2p use.
/// </summary>
/// <remarks>Immutable. Equality compares the key bytes in constant time. Never logged: <see cref="ToString"/> shows the fingerprint.</remarks>
public sealed class SwarmKey : IEquatable<SwarmKey>
{
    /// <summary>The key length in bytes.</summary>
    public const int Length = 32;

    private const string Header = "/key/swarm/psk/1.0.0/";
    private readonly byte[] _key;

    private SwarmKey(byte[] key)
    {
        _key = key;
        Fingerprint = ComputeFingerprint(key);
    }

    /// <summary>The 16-byte fingerprint (Salsa20 keystream with nonce "finprint" over 64 zero bytes, then SHAKE128),
    /// as go- and rust-libp2p compute it; safe to show and compare.</summary>
    public ReadOnlyMemory<byte> Fingerprint { get; }

    /// <summary>The fingerprint in lower-case hex.</summary>
    public string FingerprintHex => Convert.ToHexStringLower(Fingerprint.Span);

    internal ReadOnlySpan<byte> Key => _key;

    /// <summary>Generates a new random key.</summary>
    public static SwarmKey Generate() => new(RandomNumberGenerator.GetBytes(Length));

    /// <summary>Creates a key from its 32 bytes.</summary>
    /// <exception cref="WireFormatException">Not 32 bytes.</exception>
    public static SwarmKey FromBytes(ReadOnlySpan<byte> key) =>
        key.Length == Length ? new SwarmKey(key.ToArray()) : throw new WireFormatException($"A swarm key is {Length} bytes, not {key.Length}.");

    /// <summary>Parses the key-file format: <c>/key/swarm/psk/1.0.0/</c>, then <c>/base16/</c>, <c>/base64/</c> or <c>/bin/</c>, then the key.</summary>
    /// <exception cref="WireFormatException">The text is not a swarm key file.</exception>
    public static SwarmKey Parse(ReadOnlySpan<byte> file)
    {
        int firstEnd = file.IndexOf((byte)'\n');
        if (firstEnd < 0)
        {
            throw new WireFormatException("A swarm key file has at least three lines: the header, the encoding and the key.");
        }
        string header = Encoding.ASCII.GetString(file[..firstEnd]).TrimEnd('\r');
        if (header != Header)
        {
            throw new WireFormatException($"Not a swarm key file: the first line must be '{Header}'.");
        }
        var rest = file[(firstEnd + 1)..];
        int secondEnd = rest.IndexOf((byte)'\n');
        if (secondEnd < 0)
        {
            throw new WireFormatException("The swarm key file ends after its encoding line.");
        }
        string encoding = Encoding.ASCII.GetString(rest[..secondEnd]).TrimEnd('\r');
        var body = rest[(secondEnd + 1)..];
        try
        {
            return encoding switch
            {
                "/base16/" => FromBytes(Convert.FromHexString(Encoding.ASCII.GetString(body).Trim())),
                "/base64/" => FromBytes(Convert.FromBase64String(Encoding.ASCII.GetString(body).Trim())),
                "/bin/" => FromBytes(body),
                _ => throw new WireFormatException($"Unknown swarm key encoding '{encoding}': expected /base16/, /base64/ or /bin/."),
            };
        }
        catch (FormatException e) when (e is not WireFormatException)
        {
            throw new WireFormatException($"The swarm key is not valid {encoding.Trim('/')}: {e.Message}", e);
        }
    }

    /// <summary>Reads a key file.</summary>
    /// <exception cref="WireFormatException">The file is not a swarm key file.</exception>
    public static SwarmKey ReadFile(string path)
    {
        try
        {
            return Parse(File.ReadAllBytes(path));
        }
        catch (WireFormatException e)
        {
            throw new WireFormatException($"'{path}': {e.Message}", e);
        }
    }

    /// <summary>The key file text in the <c>/base16/</c> encoding.</summary>
    public string ToFileText() => $"{Header}\n/base16/\n{Convert.ToHexStringLower(_key)}\n";

    /// <summary>
    /// Writes the key file, readable only by the owner (0600) where the OS supports it, also when it replaces an existing
    /// file with a more permissive mode.
    /// </summary>
    public void WriteFile(string path)
    {
        byte[] text = Encoding.ASCII.GetBytes(ToFileText());
        try
        {
            SecretFile.WriteAllBytes(path, text);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(text);
        }
    }

    private static byte[] ComputeFingerprint(byte[] key)
    {
        Span<byte> block = stackalloc byte[64];
        block.Clear();
        using (var salsa = XSalsa20.CreateSalsa20(key, "finprint"u8))
        {
            salsa.Transform(block, block);
        }
        var shake = new ShakeDigest(128);
        shake.BlockUpdate(block.ToArray(), 0, block.Length);
        var output = new byte[16];
        shake.OutputFinal(output, 0, output.Length);
        return output;
    }

    /// <inheritdoc />
    public bool Equals(SwarmKey? other) => other is not null && CryptographicOperations.FixedTimeEquals(other._key, _key);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as SwarmKey);

    /// <inheritdoc />
    public override int GetHashCode() => BitConverter.ToInt32(Fingerprint.Span);

    /// <summary>The fingerprint, never the key.</summary>
    public override string ToString() => "swarm key " + FingerprintHex;
}
