using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using P2PNet.Host;
using P2PNet.Muxing;
using P2PNet.Protocols.Ping;
using P2PNet.Resources;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Host;

/// <summary>The resource manager's stream, memory and connection budgets between real hosts over TCP.</summary>
public sealed class ResourceLimitTests(ITestOutputHelper output)
{
    private const string HoldProtocol = "/p2pnet-test/hold/1.0.0";
    private const long MiB = 1024 * 1024;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private Task<TestHostGroup> StartAsync(int count, Action<int, P2PHostOptions> configure) =>
        TestHostGroup.StartAsync(count, (i, o) =>
        {
            configure(i, o);
        }, XunitLoggerProvider.CreateFactory(output, LogLevel.Information)).WaitAsync(Timeout);

    /// <summary>Holds the stream open until the opener half-closes it.</summary>
    private static async Task HoldAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await stream.Input.ReadAsync(cancellationToken);
            stream.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return;
            }
        }
    }

    [Fact]
    public async Task PingStreamsThatNeverRead_StayWithinThePeersMemoryBudget_AndOtherPeersAreUnaffected()
    {
        await using var hosts = await StartAsync(3, (i, o) =>
        {
            if (i == 0)
            {
                o.Resources.MaxMemoryPerPeer = 8 * MiB;
                o.Resources.MaxMemoryPerConnection = 8 * MiB;
            }
            else
            {
                // The flooder's own budget must not be what stops it.
                o.Resources.MaxMemory = 4096 * MiB;
                o.Resources.MaxMemoryPerPeer = 2048 * MiB;
                o.Resources.MaxMemoryPerConnection = 2048 * MiB;
            }
        });
        var target = hosts[0];
        var flooder = hosts[1];
        var connection = await flooder.DialAsync(target.ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await WaitIdentifiedAsync(target, flooder);

        var held = new List<P2PStream>();
        int refused = 0;
        byte[] ping = RandomNumberGenerator.GetBytes(PingProtocol.PayloadSize);
        for (int i = 0; i < 1024; i++)
        {
            try
            {
                var stream = await connection.OpenStreamAsync(PingProtocol.Id).AsTask().WaitAsync(Timeout);
                await stream.EnsureNegotiatedAsync().AsTask().WaitAsync(Timeout); // optimistic: the budget's reset shows here
                await stream.WriteAsync(ping, completeWrites: false).AsTask().WaitAsync(Timeout); // and never read the pong
                held.Add(stream);
            }
            catch (IOException)
            {
                refused++; // reset by the target: over its budget
            }

            var usage = target.GetResourceUsage(flooder.PeerId);
            Assert.True(usage is { } u && u.Memory <= 8 * MiB, $"the flooder holds {usage}");
        }

        // 512 KiB of buffers per stream: 16 fit in 8 MiB; everything beyond was refused.
        Assert.InRange(held.Count, 1, 16);
        Assert.Equal(1024 - held.Count, refused);
        Assert.True(target.GetResourceUsage().Refused >= refused);

        // Another peer connects, pings and opens streams as usual.
        var other = await hosts[2].DialAsync(target.ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await foreach (var _ in PingProtocol.PingAsync(other, 3).WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
        }

        foreach (var stream in held)
        {
            await stream.DisposeAsync();
        }

        await flooder.DisconnectAsync(target.PeerId).AsTask().WaitAsync(Timeout);
        await hosts[2].DisconnectAsync(target.PeerId).AsTask().WaitAsync(Timeout);
        await WaitUntilAsync(() => target.GetResourceUsage() is var u && u.System.IsEmpty && u.TrackedPeers == 0 && u.TrackedAddresses == 0);
    }

    [Fact]
    public async Task PerPeerStreamLimit_RefusesFurtherStreams_AndAClosedStreamFreesItsSlot()
    {
        await using var hosts = await StartAsync(2, (i, o) => o.Resources.MaxInboundStreamsPerPeer = 3);
        hosts[0].SetStreamHandler(HoldProtocol, HoldAsync);
        var connection = await hosts[1].DialAsync(hosts[0].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await WaitIdentifiedAsync(hosts[0], hosts[1]);

        var held = new List<P2PStream>();
        for (int i = 0; i < 3; i++)
        {
            held.Add(await connection.OpenStreamAsync(HoldProtocol).AsTask().WaitAsync(Timeout));
        }

        await Assert.ThrowsAsync<StreamResetException>(async () =>
        {
            var refused = await connection.OpenStreamAsync(HoldProtocol).AsTask().WaitAsync(Timeout); // optimistic
            await refused.EnsureNegotiatedAsync().AsTask().WaitAsync(Timeout);
        });
        Assert.Equal(3, hosts[0].GetResourceUsage(hosts[1].PeerId)!.Value.InboundStreams);

        await held[0].CompleteWritesAsync().AsTask().WaitAsync(Timeout);
        await held[0].ReadsClosed.WaitAsync(Timeout);
        await WaitUntilAsync(() => hosts[0].GetResourceUsage(hosts[1].PeerId)?.InboundStreams == 2);
        held[0] = await connection.OpenStreamAsync(HoldProtocol).AsTask().WaitAsync(Timeout);

        foreach (var stream in held)
        {
            await stream.DisposeAsync();
        }

        await connection.DisposeAsync().AsTask().WaitAsync(Timeout);
        await WaitUntilAsync(() => hosts[0].GetResourceUsage() is var u && u.System.IsEmpty && u.TrackedPeers == 0);
    }

    [Fact]
    public async Task PerProtocolStreamLimit_ResetsStreamsOfThatProtocolOnly()
    {
        await using var hosts = await StartAsync(2, (i, o) => o.Resources.MaxInboundStreamsPerProtocol = 2);
        hosts[0].SetStreamHandler(HoldProtocol, HoldAsync);
        var connection = await hosts[1].DialAsync(hosts[0].ListenAddresses[0]).AsTask().WaitAsync(Timeout);

        var first = await connection.OpenStreamAsync(HoldProtocol).AsTask().WaitAsync(Timeout);
        var second = await connection.OpenStreamAsync(HoldProtocol).AsTask().WaitAsync(Timeout);
        await WaitUntilAsync(() => hosts[0].GetResourceUsage(HoldProtocol).InboundStreams == 2);

        // Negotiated, then reset by the target when it counts the stream against the protocol's budget (the reset may
        // overtake the negotiation's answer, or come after it).
        await Assert.ThrowsAsync<StreamResetException>(async () =>
        {
            await using var third = await connection.OpenStreamAsync(HoldProtocol).AsTask().WaitAsync(Timeout);
            await third.ReadsClosed.WaitAsync(Timeout);
        });
        Assert.Equal(2, hosts[0].GetResourceUsage(HoldProtocol).InboundStreams);

        // Other protocols are unaffected.
        await foreach (var _ in PingProtocol.PingAsync(connection, 2).WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
        }

        await first.DisposeAsync();
        await second.DisposeAsync();
        await WaitUntilAsync(() => hosts[0].GetResourceUsage(HoldProtocol).IsEmpty);
    }

    [Fact]
    public async Task AllowListedPeer_BypassesThePerIpConnectionLimit_OthersAreRefused()
    {
        using var allowedKey = P2PNet.Crypto.PrivateKey.GenerateEd25519();
        await using var hosts = await StartAsync(4, (i, o) =>
        {
            o.Resources.MaxInboundConnectionsPerIp = 1;
            if (i == 0)
            {
                o.Resources.AllowedPeers.Add(allowedKey.PublicKey.ToPeerId());
            }
            else if (i == 3)
            {
                o.Identity = allowedKey;
            }
        });
        var guarded = hosts[0];

        // All dial from 127.0.0.1: the first takes the address's only slot.
        await hosts[1].DialAsync(guarded.ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await WaitUntilAsync(() => guarded.GetConnections(hosts[1].PeerId).Count == 1);

        // The second is refused once its peer id is known (it may see the connection close right after its handshake).
        try
        {
            await hosts[2].DialAsync(guarded.ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        }
        catch (IOException)
        {
        }

        await WaitUntilAsync(() => guarded.GetResourceUsage().Refused >= 1 && hosts[2].GetConnections(guarded.PeerId).Count == 0);
        Assert.Empty(guarded.GetConnections(hosts[2].PeerId));

        // The allow-listed peer gets in from the same address.
        var allowed = await hosts[3].DialAsync(guarded.ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await foreach (var _ in PingProtocol.PingAsync(allowed, 1).WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
        }

        Assert.Single(guarded.GetConnections(hosts[3].PeerId));
        Assert.Equal(2, guarded.GetResourceUsage().System.InboundConnections);

        await guarded.CloseConnectionsAsync().AsTask().WaitAsync(Timeout);
        await WaitUntilAsync(() => guarded.GetResourceUsage() is var u && u.System.IsEmpty && u.TrackedPeers == 0 && u.TrackedAddresses == 0);
    }

    [Fact]
    public async Task AllowListedNetwork_BypassesThePerIpConnectionLimit()
    {
        await using var hosts = await StartAsync(3, (i, o) =>
        {
            o.Resources.MaxInboundConnectionsPerIp = 1;
            o.Resources.AllowedNetworks.Add(System.Net.IPNetwork.Parse("127.0.0.0/8"));
        });
        await hosts.ConnectStarAsync().WaitAsync(Timeout);
        await hosts[2].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await WaitUntilAsync(() => hosts[1].GetConnections(hosts[2].PeerId).Count == 1 && hosts[1].GetConnections(hosts[0].PeerId).Count == 1);
        Assert.Equal(0, hosts[1].GetResourceUsage().Refused);
    }

    [Fact]
    public async Task NetworkStatus_ShowsTheResourceUsage()
    {
        await using var network = new P2PNet.Networking.Libp2pNetwork(XunitLoggerProvider.CreateFactory(output, LogLevel.Information));
        var config = new P2PNet.Networking.NetworkOptions();
        config.Host.ListenAddresses.Add(P2PNet.Multiformats.Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        network.Config(config);
        await network.InitAsync().AsTask().WaitAsync(Timeout);
        await using var hosts = await StartAsync(1, (_, _) => { });
        await hosts[0].DialAsync(network.Host.ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await WaitUntilAsync(() => network.Status().Resources is { System.InboundConnections: 1, TrackedPeers: 1 });
    }

    private static async Task WaitIdentifiedAsync(P2PHost a, P2PHost b)
    {
        // Identify runs a stream each way at connect; wait until both finished so they do not count below.
        await WaitUntilAsync(() => a.PeerStore.Get(b.PeerId)?.AgentVersion is not null && b.PeerStore.Get(a.PeerId)?.AgentVersion is not null
            && a.GetConnections(b.PeerId).All(c => c.StreamCount == 0) && b.GetConnections(a.PeerId).All(c => c.StreamCount == 0));
    }

    private static Task WaitUntilAsync(Func<bool> condition) =>
        Conditions.WaitUntilAsync(condition, Timeout, "the awaited condition did not hold");
}
