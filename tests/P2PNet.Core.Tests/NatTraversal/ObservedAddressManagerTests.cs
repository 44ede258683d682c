using P2PNet.Host;
using P2PNet.Host.Internal;
using P2PNet.Multiformats;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.NatTraversal;

/// <summary>What the host makes of identify's observed addresses: activation by distinct observers, the NAT's mapping
/// behaviour, and what does not count (ephemeral local ports, loopback, one observer voting twice).</summary>
public sealed class ObservedAddressManagerTests
{
    private static readonly int[] Listening = [4001];
    private static readonly Multiaddr Local = Multiaddr.Parse("/ip4/10.0.0.5/tcp/4001");

    private static Multiaddr Observer(int i) => Multiaddr.Parse($"/ip4/198.51.100.{i}/tcp/4001");

    private static Multiaddr Seen(int port) => Multiaddr.Parse($"/ip4/203.0.113.2/tcp/{port}");

    [Fact]
    public void AnAddressSeenByEnoughObservers_IsActivated_AndTheNatIsCone()
    {
        var manager = new ObservedAddressManager(new ObservedAddressOptions { ActivationThreshold = 2 }, new ManualTimeProvider());
        Assert.True(manager.Record(Local, Observer(1), Seen(4001), Listening));
        Assert.True(manager.Record(Local, Observer(1), Seen(4001), Listening)); // the same observer again: one vote
        Assert.Empty(manager.Activated);
        Assert.Equal(NatDeviceType.Unknown, manager.DeviceType);
        Assert.True(manager.Record(Local, Observer(2), Seen(4001), Listening));
        Assert.Equal([Seen(4001)], manager.Activated);
        Assert.Equal(NatDeviceType.Cone, manager.DeviceType);
    }

    [Fact]
    public void ObserversSeeingDifferentPorts_MakeTheNatSymmetric_AndNothingIsActivated()
    {
        var manager = new ObservedAddressManager(new ObservedAddressOptions { ActivationThreshold = 2 }, new ManualTimeProvider());
        manager.Record(Local, Observer(1), Seen(50001), Listening);
        manager.Record(Local, Observer(2), Seen(50002), Listening);
        Assert.Empty(manager.Activated);
        Assert.Equal(2, manager.All.Count);
        Assert.Equal(NatDeviceType.Symmetric, manager.DeviceType);
    }

    [Fact]
    public void EphemeralPorts_Loopback_AndOtherFamilies_DoNotCount()
    {
        var manager = new ObservedAddressManager(new ObservedAddressOptions(), new ManualTimeProvider());
        Assert.False(manager.Record(Multiaddr.Parse("/ip4/10.0.0.5/tcp/53211"), Observer(1), Seen(53211), Listening));
        Assert.False(manager.Record(Local, Multiaddr.Parse("/ip4/127.0.0.1/tcp/9"), Seen(4001), Listening));
        Assert.False(manager.Record(Local, Observer(1), Multiaddr.Parse("/ip6/2001:db8::1/tcp/4001"), Listening));
        Assert.False(manager.Record(Local, Observer(1), Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001"), Listening));
        Assert.Empty(manager.All);
    }

    [Fact]
    public void Observations_Expire_AndAreBounded()
    {
        var time = new ManualTimeProvider();
        var manager = new ObservedAddressManager(new ObservedAddressOptions { ActivationThreshold = 2, Ttl = TimeSpan.FromMinutes(30) }, time);
        for (int i = 1; i <= 100; i++)
        {
            manager.Record(Local, Observer(i), Seen(40000 + i), Listening);
        }
        Assert.Equal(16, manager.All.Count); // addresses per port are bounded
        manager.Record(Local, Observer(1), Seen(4001), Listening);
        manager.Record(Local, Observer(2), Seen(4001), Listening);
        Assert.Contains(Seen(4001), manager.Activated);
        time.Advance(TimeSpan.FromMinutes(31));
        Assert.Empty(manager.All);
        Assert.Equal(NatDeviceType.Unknown, manager.DeviceType);
    }
}
