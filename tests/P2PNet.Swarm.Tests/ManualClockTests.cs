using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Swarm.Tests;

/// <summary>Grace periods and freshness on an injected clock: no waiting for real time.</summary>
public sealed class ManualClockTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = SwarmTestNodes.Timeout;

    [Fact]
    public async Task GracePeriod_EndsExactlyWhenTheInjectedClockReachesIt()
    {
        await using var nodes = new SwarmTestNodes(output);
        var clock = WholeMillisecondClock();
        var options = new SwarmOptions { RotationGracePeriod = TimeSpan.FromMinutes(10) };
        var ownerNode = await nodes.StartAsync();
        var store = SwarmStore.Open(Path.Combine(nodes.Directory, "owner.db"));
        nodes.Own(new DisposeAction(store.Dispose));
        var owner = nodes.Own(SwarmOwner.Create(ownerNode.Host, ownerNode.Identity, store, "clock", options: options, loggerFactory: nodes.LoggerFactory, timeProvider: clock));
        await owner.JoinAsync().WaitAsync(Timeout);
        var oldKey = owner.CurrentKey;
        var ended = SwarmTestNodes.NextEventAsync<SwarmGracePeriodEnded>(h => owner.Changed += h);

        var newKey = await owner.RotateKeyAsync().WaitAsync(Timeout);
        await clock.WaitForArmedTimersAsync(1, Timeout);

        Assert.Equal([oldKey], ownerNode.Host.PrivateNetworkKeys.AlsoAccepted);
        Assert.Equal(clock.GetUtcNow() + TimeSpan.FromMinutes(10), owner.GetStatus().GraceUntil);
        clock.Advance(TimeSpan.FromMinutes(9));
        Assert.False(ended.IsCompleted);
        Assert.Equal([oldKey], ownerNode.Host.PrivateNetworkKeys.AlsoAccepted);

        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(newKey.FingerprintHex, (await ended.WaitAsync(Timeout)).KeyFingerprint);
        Assert.Equal(newKey, ownerNode.Host.PrivateNetworkKeys.Key);
        Assert.Empty(ownerNode.Host.PrivateNetworkKeys.AlsoAccepted);
        Assert.Single(store.ReadKeys());
    }

    [Fact]
    public async Task Freshness_FollowsTheOwnersInjectedClock()
    {
        await using var nodes = new SwarmTestNodes(output);
        var clock = WholeMillisecondClock();
        var ownerNode = await nodes.StartAsync();
        var member = await nodes.StartAsync();
        var store = SwarmStore.Open(Path.Combine(nodes.Directory, "owner.db"));
        nodes.Own(new DisposeAction(store.Dispose));
        var owner = nodes.Own(SwarmOwner.Create(ownerNode.Host, ownerNode.Identity, store, "clock", [member.Host.PeerId],
            options: new SwarmOptions { MaxClockSkew = TimeSpan.FromMinutes(2) }, loggerFactory: nodes.LoggerFactory, timeProvider: clock));
        var signedAt = clock.GetUtcNow();

        byte[] Request() => Google.Protobuf.MessageExtensions.ToByteArray(
            Internal.KeyExchangeClient.CreateRequest(member.Identity, "clock", ownerNode.Host.PeerId, signedAt).Envelope);

        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(Protos.KeyExchangeStatusCode.Ok, owner.Evaluate(Request(), member.Host.PeerId).Status);
        clock.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(Protos.KeyExchangeStatusCode.Stale, owner.Evaluate(Request(), member.Host.PeerId).Status);
    }

    /// <summary>A manual clock starting now, in whole milliseconds (the precision the store keeps).</summary>
    private static ManualTimeProvider WholeMillisecondClock() =>
        new(DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
}
