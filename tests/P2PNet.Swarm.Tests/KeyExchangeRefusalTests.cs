using Google.Protobuf;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Swarm.Internal;
using P2PNet.Swarm.Protos;
using Xunit.Abstractions;

namespace P2PNet.Swarm.Tests;

/// <summary>Hand-crafted key requests sent over a real connection: each bad one is refused with its reason code.</summary>
public sealed class KeyExchangeRefusalTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = SwarmTestNodes.Timeout;

    private static async Task<KeyResponse> SendAsync(TestSwarm swarm, P2PConnection connection, SignedEnvelope envelope) =>
        await KeyExchangeClient.SendAsync(connection, envelope, swarm.OwnerNode.Host.PeerId, 16 * 1024, CancellationToken.None).WaitAsync(Timeout);

    private static async Task<(TestSwarm Swarm, TestNode Member, P2PConnection Connection, List<SwarmKeyRequestRefused> Refusals)> StartAsync(
        SwarmTestNodes nodes, TimeProvider? ownerTime = null)
    {
        var swarm = await TestSwarm.StartAsync(nodes, memberCount: 1, join: false, ownerTime: ownerTime);
        var refusals = new List<SwarmKeyRequestRefused>();
        swarm.Owner.Changed += (_, e) => { if (e is SwarmKeyRequestRefused r) { lock (refusals) { refusals.Add(r); } } };
        var member = swarm.MemberNodes[0];
        var connection = await member.Host.DialAsync(swarm.OwnerNode.Address).AsTask().WaitAsync(Timeout);
        return (swarm, member, connection, refusals);
    }

    [Fact]
    public async Task ValidRequest_IsAnswered_ThenItsReplay_IsRefusedAsReplayed()
    {
        await using var nodes = new SwarmTestNodes(output);
        var (swarm, member, connection, refusals) = await StartAsync(nodes);
        var (envelope, request, _) = KeyExchangeClient.CreateRequest(member.Identity, TestSwarm.Id, swarm.OwnerNode.Host.PeerId, DateTimeOffset.UtcNow);

        var first = await SendAsync(swarm, connection, envelope);
        var replay = await SendAsync(swarm, connection, envelope);

        Assert.Equal(KeyExchangeStatusCode.Ok, first.Status);
        Assert.Equal(request.Nonce, first.RequestNonce);
        Assert.Equal(48, first.SealedKey.Length);
        Assert.Equal(KeyExchangeStatusCode.Replayed, replay.Status);
        Assert.True(replay.SealedKey.IsEmpty);
        Assert.Equal(KeyExchangeStatus.Replayed, Assert.Single(refusals).Status);
    }

    [Fact]
    public async Task ForgedSignature_IsRefusedAsBadSignature()
    {
        await using var nodes = new SwarmTestNodes(output);
        var (swarm, member, connection, refusals) = await StartAsync(nodes);
        using var attacker = PrivateKey.GenerateEd25519();
        var (genuine, request, _) = KeyExchangeClient.CreateRequest(member.Identity, TestSwarm.Id, swarm.OwnerNode.Host.PeerId, DateTimeOffset.UtcNow);

        // Signed by another key while claiming the member's public key.
        var forged = KeyExchangeCrypto.Sign(attacker, KeyExchangeCrypto.RequestDomain, request);
        forged.PublicKey = genuine.PublicKey;
        var forgedResponse = await SendAsync(swarm, connection, forged);

        // The member's genuine signature over a body changed afterwards.
        var tamperedRequest = request.Clone();
        tamperedRequest.TimestampUnixMs += 1;
        var tampered = genuine.Clone();
        tampered.Body = tamperedRequest.ToByteString();
        var tamperedResponse = await SendAsync(swarm, connection, tampered);

        // A signature made for another message type (domain separation).
        var otherDomain = KeyExchangeCrypto.Sign(member.Identity, KeyExchangeCrypto.KeyChangedDomain, request);
        var otherDomainResponse = await SendAsync(swarm, connection, otherDomain);

        Assert.Equal(KeyExchangeStatusCode.BadSignature, forgedResponse.Status);
        Assert.Equal(KeyExchangeStatusCode.BadSignature, tamperedResponse.Status);
        Assert.Equal(KeyExchangeStatusCode.BadSignature, otherDomainResponse.Status);
        Assert.Equal(3, refusals.Count);
        Assert.All(refusals, r => Assert.Equal(KeyExchangeStatus.BadSignature, r.Status));
    }

    [Fact]
    public async Task RequestSignedByAnotherPeerThanTheConnectedOne_IsRefusedAsPeerMismatch()
    {
        await using var nodes = new SwarmTestNodes(output);
        var (swarm, _, connection, refusals) = await StartAsync(nodes);
        using var stranger = PrivateKey.GenerateEd25519();
        swarm.Owner.Authorize(stranger.PublicKey.ToPeerId());
        var (envelope, _, _) = KeyExchangeClient.CreateRequest(stranger, TestSwarm.Id, swarm.OwnerNode.Host.PeerId, DateTimeOffset.UtcNow);

        var response = await SendAsync(swarm, connection, envelope);

        Assert.Equal(KeyExchangeStatusCode.PeerMismatch, response.Status);
        Assert.Equal(KeyExchangeStatus.PeerMismatch, Assert.Single(refusals).Status);
    }

    [Theory]
    [InlineData(-10)]
    [InlineData(10)]
    public async Task RequestOutsideClockSkew_IsRefusedAsStale(int minutes)
    {
        await using var nodes = new SwarmTestNodes(output);
        var (swarm, member, connection, refusals) = await StartAsync(nodes);
        var (envelope, _, _) = KeyExchangeClient.CreateRequest(member.Identity, TestSwarm.Id, swarm.OwnerNode.Host.PeerId,
            DateTimeOffset.UtcNow.AddMinutes(minutes));

        var response = await SendAsync(swarm, connection, envelope);

        Assert.Equal(KeyExchangeStatusCode.Stale, response.Status);
        Assert.Equal(KeyExchangeStatus.Stale, Assert.Single(refusals).Status);
    }

    [Fact]
    public async Task OwnerWithClockAhead_RefusesAnHonestRequestAsStale()
    {
        await using var nodes = new SwarmTestNodes(output);
        var (swarm, member, _, _) = await StartAsync(nodes, new ShiftedTimeProvider(TimeSpan.FromMinutes(5)));
        var honest = new SwarmMember(member.Host, member.Identity, swarm.Membership, loggerFactory: nodes.LoggerFactory);
        await using (honest)
        {
            var error = await Assert.ThrowsAsync<SwarmKeyExchangeException>(() => honest.RequestKeyAsync().WaitAsync(Timeout));
            Assert.Equal(KeyExchangeStatus.Stale, error.Status);
        }
    }

    [Fact]
    public async Task RequestForAnotherSwarm_IsRefusedAsUnknownSwarm()
    {
        await using var nodes = new SwarmTestNodes(output);
        var (swarm, member, connection, _) = await StartAsync(nodes);
        var (envelope, _, _) = KeyExchangeClient.CreateRequest(member.Identity, "another-swarm", swarm.OwnerNode.Host.PeerId, DateTimeOffset.UtcNow);
        Assert.Equal(KeyExchangeStatusCode.UnknownSwarm, (await SendAsync(swarm, connection, envelope)).Status);
    }

    [Fact]
    public async Task GarbageAndWrongLengths_AreRefusedAsMalformed()
    {
        await using var nodes = new SwarmTestNodes(output);
        var (swarm, member, connection, _) = await StartAsync(nodes);
        var (_, request, _) = KeyExchangeClient.CreateRequest(member.Identity, TestSwarm.Id, swarm.OwnerNode.Host.PeerId, DateTimeOffset.UtcNow);
        request.X25519PublicKey = ByteString.CopyFrom(new byte[5]);
        var shortKey = KeyExchangeCrypto.Sign(member.Identity, KeyExchangeCrypto.RequestDomain, request);
        Assert.Equal(KeyExchangeStatusCode.Malformed, (await SendAsync(swarm, connection, shortKey)).Status);

        await using var stream = await connection.OpenStreamAsync(SwarmProtocols.KeyExchange).AsTask().WaitAsync(Timeout);
        await LengthPrefixed.WriteAsync(stream.Output, new byte[] { 0xff, 0xff, 0x01, 0x02 }).AsTask().WaitAsync(Timeout);
        await stream.CompleteWritesAsync().AsTask().WaitAsync(Timeout);
        var raw = await LengthPrefixed.ReadAsync(stream.Input, 16 * 1024).AsTask().WaitAsync(Timeout);
        var response = KeyResponse.Parser.ParseFrom(SignedEnvelope.Parser.ParseFrom(raw).Body);
        Assert.Equal(KeyExchangeStatusCode.Malformed, response.Status);
    }

    [Fact]
    public async Task ForgedKeyChangedNotification_IsIgnoredByTheMember()
    {
        await using var nodes = new SwarmTestNodes(output);
        var swarm = await TestSwarm.StartAsync(nodes, memberCount: 1, join: false);
        var member = swarm.Members[0];
        var key = await member.RequestKeyAsync().WaitAsync(Timeout);
        var attacker = await nodes.StartAsync();
        var connection = await attacker.Host.DialAsync(swarm.MemberNodes[0].Address).AsTask().WaitAsync(Timeout);
        var message = new KeyChanged
        {
            SwarmId = TestSwarm.Id,
            TimestampUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            Nonce = ByteString.CopyFrom(new byte[32]),
            NewKeyFingerprint = ByteString.CopyFrom(new byte[16]),
            GraceUntilUnixMs = DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeMilliseconds(),
        };
        message.Revoked.Add(ByteString.CopyFrom(swarm.OwnerNode.Host.PeerId.Bytes));
        var envelope = KeyExchangeCrypto.Sign(attacker.Identity, KeyExchangeCrypto.KeyChangedDomain, message);

        await using var stream = await connection.OpenStreamAsync(SwarmProtocols.Notify).AsTask().WaitAsync(Timeout);
        await LengthPrefixed.WriteAsync(stream.Output, envelope.ToByteArray()).AsTask().WaitAsync(Timeout);
        await stream.CompleteWritesAsync().AsTask().WaitAsync(Timeout);
        await stream.ReadsClosed.WaitAsync(Timeout);

        Assert.Equal(key, member.Key);
        Assert.NotEmpty(swarm.MemberNodes[0].Host.GetConnections(swarm.OwnerNode.Host.PeerId));
    }
}
