using System.Security.Cryptography;

namespace P2PNet.Security.Noise.Internal;

/// <summary>
/// The Noise <c>HandshakeState</c> for <c>Noise_XX_25519_ChaChaPoly_SHA256</c> (Noise spec §5.3, §7.5):
/// <code>
/// -> e
/// &lt;- e, ee, s, es
/// -> s, se
/// </code>
/// Pure: turns payloads into handshake messages and back; the caller frames and transports them.
/// </summary>
/// <remarks>Not thread-safe. <see cref="Dispose"/> wipes the ephemeral key and the symmetric state; the static key
/// belongs to the caller.</remarks>
internal sealed class HandshakeState : IDisposable
{
    /// <summary>The Noise protocol name libp2p uses (libp2p/specs noise/README.md, "Noise Protocol Name").</summary>
    public const string ProtocolName = "Noise_XX_25519_ChaChaPoly_SHA256";

    private const int DhLength = X25519KeyPair.KeyLength;
    private const int EncryptedKeyLength = DhLength + CipherState.TagLength;

    private readonly SymmetricState _symmetric;
    private readonly X25519KeyPair _static;
    private readonly byte[] _remoteEphemeral = new byte[DhLength];
    private readonly byte[] _remoteStatic = new byte[DhLength];
    private X25519KeyPair? _ephemeral;
    private int _step;

    /// <summary>Initialize(): starts a handshake as initiator or responder.</summary>
    /// <param name="initiator">Whether we send the first message.</param>
    /// <param name="prologue">Data both sides must agree on; empty for libp2p over TCP.</param>
    /// <param name="staticKey">Our static key pair <c>s</c> (owned by the caller).</param>
    /// <param name="ephemeralKey">A fixed ephemeral key for test vectors; generated when <see langword="null"/>.</param>
    public HandshakeState(bool initiator, ReadOnlySpan<byte> prologue, X25519KeyPair staticKey, X25519KeyPair? ephemeralKey = null)
    {
        ArgumentNullException.ThrowIfNull(staticKey);
        IsInitiator = initiator;
        _static = staticKey;
        _ephemeral = ephemeralKey;
        _symmetric = new SymmetricState(ProtocolName);
        _symmetric.MixHash(prologue); // applied even when empty (spec §5.3)
    }

    /// <summary>Whether we are the initiator.</summary>
    public bool IsInitiator { get; }

    /// <summary>The number (1 to 3) of the next handshake message; 4 once complete.</summary>
    public int NextMessage => _step + 1;

    /// <summary>Whether all three messages have been written or read.</summary>
    public bool IsComplete => _step == 3;

    /// <summary>Whether the next message is ours to write (the initiator writes 1 and 3, the responder 2).</summary>
    public bool IsOurTurn => !IsComplete && (_step % 2 == 0) == IsInitiator;

    /// <summary>The remote's static key <c>rs</c>, known after message 2 (initiator) or 3 (responder).</summary>
    public ReadOnlySpan<byte> RemoteStaticKey => _step >= (IsInitiator ? 2 : 3) ? _remoteStatic : [];

    /// <summary>The handshake hash <c>h</c>.</summary>
    public ReadOnlySpan<byte> HandshakeHash => _symmetric.HandshakeHash;

    /// <summary>The smallest valid length of handshake message <paramref name="number"/> (empty payload).</summary>
    public static int MinimumLength(int number) => number switch
    {
        1 => DhLength,
        2 => DhLength + EncryptedKeyLength + CipherState.TagLength,
        3 => EncryptedKeyLength + CipherState.TagLength,
        _ => throw new ArgumentOutOfRangeException(nameof(number)),
    };

    /// <summary>The length of the next message we write with a payload of <paramref name="payloadLength"/> bytes.</summary>
    public int GetMessageLength(int payloadLength) => MinimumLength(NextMessage) + payloadLength;

    /// <summary>WriteMessage(payload): writes the next message into <paramref name="destination"/>.</summary>
    /// <returns>The bytes written (<see cref="GetMessageLength"/>).</returns>
    public int WriteMessage(ReadOnlySpan<byte> payload, Span<byte> destination)
    {
        if (!IsOurTurn)
        {
            throw new InvalidOperationException($"Handshake message {NextMessage} is not ours to write.");
        }
        int written = 0;
        switch (_step)
        {
            case 0: // -> e
                written += WriteEphemeral(destination);
                break;
            case 1: // <- e, ee, s, es
                written += WriteEphemeral(destination);
                MixDh(_ephemeral!, _remoteEphemeral);
                written += _symmetric.EncryptAndHash(_static.PublicKey, destination[written..]);
                MixDh(_static, _remoteEphemeral);
                break;
            default: // -> s, se
                written += _symmetric.EncryptAndHash(_static.PublicKey, destination[written..]);
                MixDh(_static, _remoteEphemeral);
                break;
        }
        written += _symmetric.EncryptAndHash(payload, destination[written..]);
        _step++;
        return written;
    }

    /// <summary>ReadMessage(message): processes the remote's next message and returns its payload.</summary>
    /// <exception cref="NoiseHandshakeException">The message is too short, fails authentication or carries an invalid key.</exception>
    public byte[] ReadMessage(ReadOnlySpan<byte> message)
    {
        if (IsComplete || IsOurTurn)
        {
            throw new InvalidOperationException($"Handshake message {NextMessage} is not the remote's to send.");
        }
        int number = NextMessage;
        int minimum = MinimumLength(number);
        if (message.Length < minimum)
        {
            throw new NoiseHandshakeException($"Noise handshake message {number} is {message.Length} bytes, shorter than the {minimum} bytes XX requires.");
        }
        try
        {
            int read = 0;
            switch (_step)
            {
                case 0: // -> e
                    read += ReadEphemeral(message);
                    break;
                case 1: // <- e, ee, s, es
                    read += ReadEphemeral(message);
                    MixDh(_ephemeral!, _remoteEphemeral);
                    read += _symmetric.DecryptAndHash(message.Slice(read, EncryptedKeyLength), _remoteStatic) + CipherState.TagLength;
                    MixDh(_ephemeral!, _remoteStatic);
                    break;
                default: // -> s, se
                    read += _symmetric.DecryptAndHash(message[..EncryptedKeyLength], _remoteStatic) + CipherState.TagLength;
                    MixDh(_ephemeral!, _remoteStatic);
                    break;
            }
            ReadOnlySpan<byte> encryptedPayload = message[read..];
            var payload = new byte[encryptedPayload.Length - (_symmetric.HasKey ? CipherState.TagLength : 0)];
            _symmetric.DecryptAndHash(encryptedPayload, payload);
            _step++;
            return payload;
        }
        catch (CryptographicException e)
        {
            throw new NoiseHandshakeException($"Noise handshake message {number} failed authentication: the remote is not speaking Noise XX or the message was altered.", e);
        }
    }

    /// <summary>Split(): the transport cipher states, as (ours to send with, ours to receive with).</summary>
    public (CipherState Send, CipherState Receive) Split()
    {
        if (!IsComplete)
        {
            throw new InvalidOperationException("The handshake is not complete.");
        }
        var (initiatorToResponder, responderToInitiator) = _symmetric.Split();
        return IsInitiator ? (initiatorToResponder, responderToInitiator) : (responderToInitiator, initiatorToResponder);
    }

    /// <summary>Wipes the ephemeral key and the symmetric state.</summary>
    public void Dispose()
    {
        _ephemeral?.Dispose();
        _symmetric.Dispose();
    }

    private int WriteEphemeral(Span<byte> destination)
    {
        _ephemeral ??= X25519KeyPair.Generate();
        _ephemeral.PublicKey.CopyTo(destination);
        _symmetric.MixHash(_ephemeral.PublicKey);
        return DhLength;
    }

    private int ReadEphemeral(ReadOnlySpan<byte> message)
    {
        message[..DhLength].CopyTo(_remoteEphemeral);
        _symmetric.MixHash(_remoteEphemeral);
        return DhLength;
    }

    private void MixDh(X25519KeyPair local, ReadOnlySpan<byte> remotePublicKey)
    {
        Span<byte> shared = stackalloc byte[DhLength];
        local.Agree(remotePublicKey, shared);
        _symmetric.MixKey(shared);
        CryptographicOperations.ZeroMemory(shared);
    }
}
