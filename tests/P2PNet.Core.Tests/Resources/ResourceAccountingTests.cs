using System.Net;
using FsCheck;
using FsCheck.Xunit;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Crypto;
using P2PNet.Peers;
using P2PNet.Resources;
using P2PNet.Resources.Internal;

namespace P2PNet.Core.Tests.Resources;

/// <summary>The resource manager's bookkeeping on its own: reservations, refusals, and that every path gives back what it took.</summary>
public sealed class ResourceAccountingTests
{
    private static readonly IPAddress Remote = IPAddress.Parse("192.0.2.7");
    private static readonly PeerId PeerA = NewPeer();
    private static readonly PeerId PeerB = NewPeer();

    private static PeerId NewPeer()
    {
        using var key = PrivateKey.GenerateEd25519();
        return key.PublicKey.ToPeerId();
    }

    private static ResourceManager NewManager(Action<ResourceLimits>? configure = null)
    {
        var limits = new ResourceLimits();
        configure?.Invoke(limits);
        return new ResourceManager(limits, NullLogger.Instance);
    }

    private static void AssertEmpty(ResourceManager manager)
    {
        ResourceUsage usage = manager.Snapshot();
        Assert.True(usage.System.IsEmpty, $"system still holds {usage.System}");
        Assert.Equal(0, usage.TrackedPeers);
        Assert.Equal(0, usage.TrackedAddresses);
    }

    [Fact]
    public void Scope_ReservesUpToItsLimit_ThenRefuses_AndReleaseFreesRoom()
    {
        var scope = new ResourceScope(ResourceScopeKind.Peer, ResourceScope.Limits(1, 1, 1, 1, 1, 100));
        Assert.True(scope.TryReserve(ResourceKind.Memory, 60));
        Assert.False(scope.TryReserve(ResourceKind.Memory, 41));
        Assert.True(scope.TryReserve(ResourceKind.Memory, 40));
        Assert.Equal(100, scope.Used(ResourceKind.Memory));
        scope.Release(ResourceKind.Memory, 60);
        Assert.True(scope.TryReserve(ResourceKind.Memory, 60));
        Assert.Equal(0, scope.Used(ResourceKind.InboundStreams));
    }

    [Property(MaxTest = 30)]
    public void Scope_UnderConcurrentReservations_NeverExceedsItsLimit_AndEndsAtZero(PositiveInt limit, NonEmptyArray<PositiveInt> amounts)
    {
        var scope = new ResourceScope(ResourceScopeKind.System, ResourceScope.Limits(1, 1, 1, 1, 1, limit.Get));
        long maxSeen = 0;
        Parallel.For(0, 4, worker =>
        {
            foreach (PositiveInt amount in amounts.Get)
            {
                long bytes = amount.Get % 1000;
                if (scope.TryReserve(ResourceKind.Memory, bytes))
                {
                    long used = scope.Used(ResourceKind.Memory);
                    long seen;
                    do
                    {
                        seen = Interlocked.Read(ref maxSeen);
                    }
                    while (used > seen && Interlocked.CompareExchange(ref maxSeen, used, seen) != seen);
                    scope.Release(ResourceKind.Memory, bytes);
                }
            }
        });
        Assert.True(maxSeen <= limit.Get, $"held {maxSeen} with a limit of {limit.Get}");
        Assert.Equal(0, scope.Used(ResourceKind.Memory));
    }

    [Fact]
    public void InboundHandshakes_PerIpLimit_RefusesThatIpOnly_AndAnotherIpStillGetsIn()
    {
        var manager = NewManager(l => l.MaxInboundHandshakesPerIp = 2);
        using ConnectionResources first = manager.OpenInbound(Remote);
        using ConnectionResources second = manager.OpenInbound(Remote);
        var refused = Assert.Throws<ResourceLimitExceededException>(() => manager.OpenInbound(Remote));
        Assert.Equal(ResourceScopeKind.Ip, refused.Scope);
        Assert.Equal(ResourceKind.InboundHandshakes, refused.Resource);
        using ConnectionResources other = manager.OpenInbound(IPAddress.Parse("192.0.2.8"));
        Assert.Equal(3, manager.Snapshot().System.InboundHandshakes);
        Assert.Equal(1, manager.Snapshot().Refused);
    }

    [Fact]
    public void Ipv6Addresses_InOneSlash64_ShareOneBudget()
    {
        var manager = NewManager(l => l.MaxInboundHandshakesPerIp = 1);
        using ConnectionResources first = manager.OpenInbound(IPAddress.Parse("2001:db8:1:2::1"));
        Assert.Throws<ResourceLimitExceededException>(() => manager.OpenInbound(IPAddress.Parse("2001:db8:1:2:ffff::9")));
        using ConnectionResources otherNetwork = manager.OpenInbound(IPAddress.Parse("2001:db8:1:3::1"));
    }

    [Fact]
    public void OutboundConnections_NeverTakeFromTheInboundHandshakeBudget()
    {
        var manager = NewManager(l => l.MaxInboundHandshakes = 1);
        using ConnectionResources inbound = manager.OpenInbound(Remote);
        Assert.Throws<ResourceLimitExceededException>(() => manager.OpenInbound(IPAddress.Parse("192.0.2.99")));
        using ConnectionResources outbound = manager.OpenOutbound(Remote);
        Assert.Equal(1, manager.Snapshot().System.OutboundConnections);
        Assert.Equal(1, manager.Snapshot().System.InboundHandshakes);
    }

    [Fact]
    public void AllowListedNetwork_BypassesPerIpLimits_ButNotTheSystemLimit()
    {
        var manager = NewManager(l =>
        {
            l.MaxInboundHandshakesPerIp = 1;
            l.MaxInboundHandshakes = 3;
            l.AllowedNetworks.Add(IPNetwork.Parse("192.0.2.0/24"));
        });
        var held = Enumerable.Range(0, 3).Select(_ => manager.OpenInbound(Remote)).ToList();
        var refused = Assert.Throws<ResourceLimitExceededException>(() => manager.OpenInbound(Remote));
        Assert.Equal(ResourceScopeKind.System, refused.Scope);
        held.ForEach(h => h.Dispose());
        AssertEmpty(manager);
    }

    [Fact]
    public void PerPeerConnectionLimit_RefusesAtSetPeer_AllowListedPeerBypassesIt()
    {
        var manager = NewManager(l =>
        {
            l.MaxInboundConnectionsPerPeer = 1;
            l.MaxInboundConnectionsPerIp = 1;
            l.AllowedPeers.Add(PeerB);
        });
        using ConnectionResources first = manager.OpenInbound(Remote);
        first.SetPeer(PeerA);
        first.CompleteHandshake();
        using ConnectionResources second = manager.OpenInbound(IPAddress.Parse("192.0.2.50"));
        var refused = Assert.Throws<ResourceLimitExceededException>(() => second.SetPeer(PeerA));
        Assert.Equal(ResourceScopeKind.Peer, refused.Scope);
        second.Dispose();

        // PeerB is allow-listed: a second and third connection from the same IP (per-IP limit 1) get in.
        using ConnectionResources third = manager.OpenInbound(Remote);
        third.SetPeer(PeerB);
        using ConnectionResources fourth = manager.OpenInbound(Remote);
        fourth.SetPeer(PeerB);
        Assert.Equal(2, manager.PeerUsage(PeerB)!.Value.InboundConnections); // still counted, only not limited
    }

    [Fact]
    public void Streams_AreLimitedPerConnectionAndPeer_AndDisposeGivesBackWhatOpenStreamsHold()
    {
        var manager = NewManager(l =>
        {
            l.MaxInboundStreamsPerConnection = 3;
            l.MaxInboundStreamsPerPeer = 4;
            l.MaxMemoryPerPeer = 10_000;
        });
        ConnectionResources a = manager.OpenOutbound(Remote);
        a.SetPeer(PeerA);
        ConnectionResources b = manager.OpenOutbound(Remote);
        b.SetPeer(PeerA);
        Assert.True(a.TryOpenStream(outbound: false, 1000, out _));
        Assert.True(a.TryOpenStream(outbound: false, 1000, out _));
        Assert.True(a.TryOpenStream(outbound: false, 1000, out _));
        Assert.False(a.TryOpenStream(outbound: false, 1000, out var perConnection));
        Assert.Equal(ResourceScopeKind.Connection, perConnection!.Scope);
        Assert.True(b.TryOpenStream(outbound: false, 1000, out _));
        Assert.False(b.TryOpenStream(outbound: false, 1000, out var perPeer));
        Assert.Equal(ResourceScopeKind.Peer, perPeer!.Scope);
        Assert.False(b.TryOpenStream(outbound: true, 7000, out var memory)); // 4000 held, 10,000 allowed
        Assert.Equal(ResourceKind.Memory, memory!.Resource);
        Assert.True(b.TryAddProtocol("/x/1", outbound: false, out _));
        Assert.Equal(4000, manager.Snapshot().System.Memory);

        // Closing the connections without closing their streams first still gives everything back.
        a.Dispose();
        b.Dispose();
        b.CloseStream(outbound: false, 1000, "/x/1"); // late: a no-op
        AssertEmpty(manager);
        Assert.True(manager.ProtocolUsage("/x/1").IsEmpty);
    }

    [Fact]
    public void ProtocolLimit_IsHostWide_AndClosingAStreamFreesItsSlot()
    {
        var manager = NewManager(l => l.MaxOutboundStreamsPerProtocol = 1);
        using ConnectionResources a = manager.OpenOutbound(Remote);
        a.SetPeer(PeerA);
        using ConnectionResources b = manager.OpenOutbound(Remote);
        b.SetPeer(PeerB);
        Assert.True(a.TryOpenStream(outbound: true, 10, out _));
        Assert.True(a.TryAddProtocol("/p/1", outbound: true, out _));
        Assert.True(b.TryOpenStream(outbound: true, 10, out _));
        Assert.False(b.TryAddProtocol("/p/1", outbound: true, out var refused));
        Assert.Equal(ResourceScopeKind.Protocol, refused!.Scope);
        a.CloseStream(outbound: true, 10, "/p/1");
        Assert.True(b.TryAddProtocol("/p/1", outbound: true, out _));
        Assert.Equal(1, manager.ProtocolUsage("/p/1").OutboundStreams);
    }

    [Fact]
    public void Dispose_IsIdempotent_AndReleasesAHandshakeThatNeverCompleted()
    {
        var manager = NewManager();
        ConnectionResources inbound = manager.OpenInbound(Remote);
        Assert.Equal(1, manager.PendingInbound);
        inbound.Dispose();
        inbound.Dispose();
        AssertEmpty(manager);
    }

    /// <summary>Any interleaving of stream opens, protocol attachments, growth and closes on several connections, then
    /// closing the connections in any order: nothing is left held, and no scope ever holds more than its limit.</summary>
    [Property(MaxTest = 50)]
    public void AnySequenceOfOperations_LeavesNothingHeld(NonEmptyArray<byte> operations)
    {
        var manager = NewManager(l =>
        {
            l.MaxInboundStreamsPerConnection = 5;
            l.MaxOutboundStreamsPerPeer = 6;
            l.MaxInboundStreamsPerProtocol = 4;
            l.MaxMemoryPerPeer = 5000;
            l.MaxMemoryPerConnection = 3000;
            l.MaxInboundConnectionsPerPeer = 2;
        });
        var connections = new List<(ConnectionResources Resources, List<(bool Outbound, long Memory, string? Protocol)> Streams)>();
        foreach (byte op in operations.Get)
        {
            int pick = op >> 4;
            switch (op & 0x7)
            {
                case 0:
                    try
                    {
                        ConnectionResources c = (op & 8) != 0 ? manager.OpenInbound(Remote) : manager.OpenOutbound(Remote);
                        try
                        {
                            c.SetPeer(pick % 2 == 0 ? PeerA : PeerB);
                            c.CompleteHandshake();
                        }
                        catch (ResourceLimitExceededException)
                        {
                            c.Dispose();
                            break;
                        }
                        connections.Add((c, []));
                    }
                    catch (ResourceLimitExceededException)
                    {
                    }
                    break;
                case 1 or 2 when connections.Count > 0:
                {
                    var (c, streams) = connections[pick % connections.Count];
                    bool outbound = (op & 8) != 0;
                    long memory = 100 + pick * 50;
                    if (c.TryOpenStream(outbound, memory, out _))
                    {
                        string? protocol = c.TryAddProtocol("/p/" + (pick % 2), outbound, out _) ? "/p/" + (pick % 2) : null;
                        streams.Add((outbound, memory, protocol));
                    }
                    break;
                }
                case 3 when connections.Count > 0:
                {
                    var (c, streams) = connections[pick % connections.Count];
                    if (streams.Count > 0 && c.TryReserveMemory(200))
                    {
                        var s = streams[^1];
                        streams[^1] = (s.Outbound, s.Memory + 200, s.Protocol);
                    }
                    break;
                }
                case 4 or 5 when connections.Count > 0:
                {
                    var (c, streams) = connections[pick % connections.Count];
                    if (streams.Count > 0)
                    {
                        var s = streams[0];
                        streams.RemoveAt(0);
                        c.CloseStream(s.Outbound, s.Memory, s.Protocol);
                    }
                    break;
                }
                case 6 when connections.Count > 0:
                {
                    int index = pick % connections.Count;
                    connections[index].Resources.Dispose();
                    connections.RemoveAt(index);
                    break;
                }
            }

            ScopeUsage system = manager.Snapshot().System;
            Assert.True(system.Memory <= 2 * 5000, $"memory {system.Memory} beyond two peers' budgets");
            Assert.True(manager.ProtocolUsage("/p/0").InboundStreams <= 4 && manager.ProtocolUsage("/p/1").InboundStreams <= 4);
            foreach (var (c, _) in connections)
            {
                Assert.True(c.Usage.Memory <= 3000 && c.Usage.InboundStreams <= 5);
            }
        }

        foreach (var (c, _) in connections)
        {
            c.Dispose();
        }

        AssertEmpty(manager);
        Assert.True(manager.ProtocolUsage("/p/0").IsEmpty && manager.ProtocolUsage("/p/1").IsEmpty);
    }
}
