using P2PNet.Swarm.Internal;
using P2PNet.Swarm.Protos;
using Xunit.Abstractions;

namespace P2PNet.Swarm.Tests;

/// <summary>The owner's replay cache admits requests fairly: one authorised member flooding it cannot starve another.</summary>
public sealed class KeyExchangeFairnessTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = SwarmTestNodes.Timeout;

    [Fact]
    public async Task MemberFloodingRequests_IsRefusedAsBusy_WhileAnotherMemberStillGetsTheKey()
    {
        await using var nodes = new SwarmTestNodes(output);
        var options = new SwarmOptions { MaxRememberedNonces = 8, MaxRememberedNoncesPerPeer = 4 };
        var swarm = await TestSwarm.StartAsync(nodes, memberCount: 2, options, join: false);
        var owner = swarm.OwnerNode.Host.PeerId;
        var flooder = swarm.MemberNodes[0];
        var patient = swarm.MemberNodes[1];
        var flooderConnection = await flooder.Host.DialAsync(swarm.OwnerNode.Address).AsTask().WaitAsync(Timeout);

        var statuses = new List<KeyExchangeStatusCode>();
        for (int i = 0; i < 12; i++)
        {
            var (envelope, _, _) = KeyExchangeClient.CreateRequest(flooder.Identity, TestSwarm.Id, owner, DateTimeOffset.UtcNow);
            statuses.Add((await KeyExchangeClient.SendAsync(flooderConnection, envelope, owner, 16 * 1024, CancellationToken.None).WaitAsync(Timeout)).Status);
        }

        Assert.Equal(4, statuses.Count(s => s == KeyExchangeStatusCode.Ok));
        Assert.Equal(8, statuses.Count(s => s == KeyExchangeStatusCode.Busy));
        Assert.Equal(swarm.Owner.CurrentKey, await swarm.Members[1].RequestKeyAsync().WaitAsync(Timeout));
        Assert.NotEmpty(patient.Host.GetConnections(owner));
    }

    [Fact]
    public void NonceCache_QuotaIsPerRequester_AndFreedWhenNoncesExpire()
    {
        var cache = new NonceCache(capacity: 6, perRequester: 2);
        var now = DateTimeOffset.UnixEpoch;
        byte[] Nonce(int i) => [(byte)i, 1, 2, 3];

        Assert.Equal(NonceCache.Result.Added, cache.TryAdd("a", Nonce(1), now.AddMinutes(1), now));
        Assert.Equal(NonceCache.Result.Added, cache.TryAdd("a", Nonce(2), now.AddMinutes(2), now));
        Assert.Equal(NonceCache.Result.Full, cache.TryAdd("a", Nonce(3), now.AddMinutes(2), now));
        Assert.Equal(NonceCache.Result.Replayed, cache.TryAdd("b", Nonce(1), now.AddMinutes(1), now));
        Assert.Equal(NonceCache.Result.Added, cache.TryAdd("b", Nonce(4), now.AddMinutes(1), now));
        Assert.Equal(NonceCache.Result.Added, cache.TryAdd("c", Nonce(5), now.AddMinutes(1), now));

        // Once a's first nonce expired, a has room for one more, not two.
        var later = now.AddSeconds(90);
        Assert.Equal(NonceCache.Result.Added, cache.TryAdd("a", Nonce(6), later.AddMinutes(1), later));
        Assert.Equal(NonceCache.Result.Full, cache.TryAdd("a", Nonce(7), later.AddMinutes(1), later));
        Assert.Equal(NonceCache.Result.Replayed, cache.TryAdd("a", Nonce(2), later.AddMinutes(1), later));
    }
}
