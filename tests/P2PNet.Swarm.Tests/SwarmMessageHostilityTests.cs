using FsCheck.Xunit;
using Google.Protobuf;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Peers;
using P2PNet.Security.Pnet;
using P2PNet.Swarm.Internal;
using P2PNet.Swarm.Protos;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Swarm.Tests;

/// <summary>
/// What a member receives from "the owner" (<see cref="KeyResponse"/>, <see cref="KeyChanged"/>) under attack: garbage,
/// oversized, signed by someone else, or a genuine signed message with any byte changed — never accepted, and only
/// the documented outcome (ignored, or <see cref="SwarmKeyExchangeException"/>).
/// </summary>
public sealed class SwarmMessageHostilityTests(ITestOutputHelper output)
{
    private const string SwarmId = "hostile";
    private static readonly TimeSpan Timeout = SwarmTestNodes.Timeout;
    private static readonly PrivateKey Owner = PrivateKey.GenerateEd25519();
    private static readonly PrivateKey Requester = PrivateKey.GenerateEd25519();
    private static readonly PeerId OwnerId = Owner.PublicKey.ToPeerId();
    private static readonly PeerId RequesterId = Requester.PublicKey.ToPeerId();
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;
    private static readonly TimeSpan Skew = TimeSpan.FromMinutes(2);
    private static readonly byte[] GenuineKeyChanged = SignedKeyChanged(Owner);
    private static readonly (byte[] Raw, KeyRequest Request, Org.BouncyCastle.Crypto.Parameters.X25519PrivateKeyParameters X25519, SwarmKey Key) GenuineResponse = SignedResponse(Owner);

    private static byte[] SignedKeyChanged(PrivateKey signer)
    {
        var message = new KeyChanged
        {
            SwarmId = SwarmId,
            TimestampUnixMs = Now.ToUnixTimeMilliseconds(),
            Nonce = ByteString.CopyFrom(new byte[KeyExchangeCrypto.NonceLength]),
            NewKeyFingerprint = ByteString.CopyFrom(SwarmKey.Generate().Fingerprint.Span),
            GraceUntilUnixMs = (Now + TimeSpan.FromMinutes(10)).ToUnixTimeMilliseconds(),
        };
        message.Revoked.Add(ByteString.CopyFrom(PrivateKey.GenerateEd25519().PublicKey.ToPeerId().Bytes));
        return KeyExchangeCrypto.Sign(signer, KeyExchangeCrypto.KeyChangedDomain, message).ToByteArray();
    }

    /// <summary>A response as the owner builds it (sealed key, fingerprint, bootstrap, revoked), signed by <paramref name="signer"/>.</summary>
    private static (byte[], KeyRequest, Org.BouncyCastle.Crypto.Parameters.X25519PrivateKeyParameters, SwarmKey) SignedResponse(PrivateKey signer)
    {
        var (_, request, x25519) = KeyExchangeClient.CreateRequest(Requester, SwarmId, OwnerId, Now);
        var key = SwarmKey.Generate();
        var (ephemeral, sealedKey) = KeyExchangeCrypto.Seal(SwarmKeyBytes.Get(key), request.X25519PublicKey.Span, SwarmId, OwnerId, RequesterId, request.Nonce.Span);
        var response = new KeyResponse
        {
            Status = KeyExchangeStatusCode.Ok,
            SwarmId = SwarmId,
            RequestNonce = request.Nonce,
            Requester = request.Requester,
            TimestampUnixMs = Now.ToUnixTimeMilliseconds(),
            EphemeralPublicKey = ByteString.CopyFrom(ephemeral),
            SealedKey = ByteString.CopyFrom(sealedKey),
            KeyFingerprint = ByteString.CopyFrom(key.Fingerprint.Span),
            PreviousKeyGraceUntilUnixMs = (Now + TimeSpan.FromMinutes(10)).ToUnixTimeMilliseconds(),
        };
        response.Bootstrap.Add(ByteString.CopyFrom(Multiformats.Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001").ToBytes()));
        response.Revoked.Add(ByteString.CopyFrom(PrivateKey.GenerateEd25519().PublicKey.ToPeerId().Bytes));
        return (KeyExchangeCrypto.Sign(signer, KeyExchangeCrypto.ResponseDomain, response).ToByteArray(), request, x25519, key);
    }

    private static KeyChanged? CheckKeyChanged(byte[] raw) =>
        SwarmMessageCheck.VerifyKeyChanged(raw, OwnerId, OwnerId, SwarmId, Now, Skew, out _);

    private static KeyExchangeClient.Result AcceptResponse(byte[] raw) =>
        KeyExchangeClient.Accept(SwarmMessageCheck.VerifyResponse(raw, OwnerId), GenuineResponse.Request, GenuineResponse.X25519, RequesterId, SwarmId, OwnerId);

    /// <summary>One damage to <paramref name="genuine"/>: a byte changed, the message cut short, or a byte inserted.</summary>
    private static byte[] Mutate(byte[] genuine, int position, byte value, int kind)
    {
        int index = (int)((uint)position % (uint)genuine.Length);
        switch ((uint)kind % 3)
        {
            case 0:
                var flipped = (byte[])genuine.Clone();
                flipped[index] ^= value == 0 ? (byte)1 : value;
                return flipped;
            case 1:
                return genuine[..index];
            default:
                return [.. genuine[..index], value, .. genuine[index..]];
        }
    }

    [Fact]
    public void GenuineMessages_AreAccepted()
    {
        Assert.NotNull(CheckKeyChanged(GenuineKeyChanged));
        Assert.Equal(GenuineResponse.Key, AcceptResponse(GenuineResponse.Raw).Key);
    }

    [Property(MaxTest = 500)]
    public void KeyChanged_WithAnyByteChangedCutOrInserted_IsNeverAccepted(int position, byte value, int kind) =>
        Assert.Null(CheckKeyChanged(Mutate(GenuineKeyChanged, position, value, kind)));

    [Property(MaxTest = 500)]
    public void KeyResponse_WithAnyByteChangedCutOrInserted_IsRefusedAsAKeyExchangeFailure(int position, byte value, int kind) =>
        Assert.Throws<SwarmKeyExchangeException>(() => AcceptResponse(Mutate(GenuineResponse.Raw, position, value, kind)));

    [Property(MaxTest = 500)]
    public void ArbitraryBytes_AreIgnoredAsKeyChanged_AndRefusedAsKeyResponse(byte[] bytes)
    {
        bytes ??= [];
        Assert.Null(CheckKeyChanged(bytes));
        Assert.Throws<SwarmKeyExchangeException>(() => SwarmMessageCheck.VerifyResponse(bytes, OwnerId));
    }

    [Fact]
    public void MessagesSignedByAnotherKey_OrFromAnotherPeer_AreNotAccepted()
    {
        using var impostor = PrivateKey.GenerateEd25519();
        Assert.Null(CheckKeyChanged(SignedKeyChanged(impostor)));
        Assert.Null(SwarmMessageCheck.VerifyKeyChanged(GenuineKeyChanged, OwnerId, RequesterId, SwarmId, Now, Skew, out string? problem));
        Assert.Equal("not signed by the swarm owner", problem);
        Assert.Throws<SwarmKeyExchangeException>(() => AcceptResponse(SignedResponse(impostor).Item1));
    }

    [Fact]
    public async Task OversizedOrGarbageAnswers_FromTheOwnerIdentity_FailTheRequestAsKeyExchangeFailures()
    {
        await using var nodes = new SwarmTestNodes(output);
        var ownerIdentity = PrivateKey.GenerateEd25519();
        var fakeOwner = await nodes.StartAsync(identity: ownerIdentity);
        var memberNode = await nodes.StartAsync();
        var member = nodes.Own(new SwarmMember(memberNode.Host, memberNode.Identity,
            new SwarmMembership(SwarmId, fakeOwner.Host.PeerId, fakeOwner.Host.ListenAddresses), loggerFactory: nodes.LoggerFactory));
        byte[][] answers = [new byte[20 * 1024], [0xff, 0xff, 0xff, 0xff, 0x0f], "garbage"u8.ToArray()];
        int next = 0;
        fakeOwner.Host.SetStreamHandler(SwarmProtocols.KeyExchange, async (stream, ct) =>
        {
            await LengthPrefixed.ReadAsync(stream.Input, 16 * 1024, ct);
            byte[] answer = answers[Interlocked.Increment(ref next) - 1];
            await stream.Output.WriteAsync(answer.Length < 16 ? answer : LengthPrefix(answer), ct);
            await stream.CompleteWritesAsync(ct);
        });

        foreach (var _ in answers)
        {
            await Assert.ThrowsAsync<SwarmKeyExchangeException>(() => member.RequestKeyAsync().WaitAsync(Timeout));
        }
        Assert.Null(member.Key);
    }

    [Fact]
    public async Task OversizedGarbageOrForgedNotifications_AreIgnored_AndTheMemberKeepsItsKey()
    {
        await using var nodes = new SwarmTestNodes(output);
        var swarm = await TestSwarm.StartAsync(nodes, memberCount: 1, mesh: false);
        var key = swarm.Members[0].Key;
        // The member's dial completes before the owner has necessarily registered its side of the connection.
        await Conditions.WaitUntilAsync(() => swarm.OwnerNode.Host.GetConnections(swarm.MemberNodes[0].Host.PeerId).Count > 0,
            Timeout, "the owner never saw the member's connection");
        var connection = swarm.OwnerNode.Host.GetConnections(swarm.MemberNodes[0].Host.PeerId)[0];
        using var impostor = PrivateKey.GenerateEd25519();
        byte[][] notifications = [LengthPrefix(new byte[20 * 1024]), LengthPrefix("garbage"u8.ToArray()), LengthPrefix(SignedKeyChanged(impostor))];

        foreach (var notification in notifications)
        {
            await using var stream = await connection.OpenStreamAsync(SwarmProtocols.Notify).AsTask().WaitAsync(Timeout);
            await stream.Output.WriteAsync(notification);
            await stream.CompleteWritesAsync().AsTask().WaitAsync(Timeout);
            await stream.ReadsClosed.WaitAsync(Timeout);
        }

        Assert.Equal(key, swarm.Members[0].Key);
        Assert.Equal(key, swarm.MemberNodes[0].Host.PrivateNetworkKeys.Key);
        await SwarmTestNodes.PingAsync(connection);
    }

    private static byte[] LengthPrefix(byte[] message)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        LengthPrefixed.Write(buffer, message);
        return buffer.WrittenSpan.ToArray();
    }
}
