using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using Google.Protobuf.WellKnownTypes;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Muxing;
using P2PNet.Networking;
using P2PNet.Protocols.Echo;
using P2PNet.Protocols.Perf;
using P2PNet.Protocols.Ping;
using P2PNet.Security.Noise;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Host;

/// <summary>Identify and identify push between two hosts.</summary>
public sealed partial class HostTests
{
    [Fact]
    public async Task Identify_BothSidesLearnAgentProtocolsAndAddresses()
    {
        await using var hosts = await StartAsync(2);
        var identified = new[] { NewSignal<PeerIdentificationCompleted>(hosts[0]), NewSignal<PeerIdentificationCompleted>(hosts[1]) };
        await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        var seenBy0 = await identified[0].WaitAsync(Timeout);
        var seenBy1 = await identified[1].WaitAsync(Timeout);

        Assert.Equal(hosts[1].PeerId, seenBy0.Peer);
        Assert.Equal("p2pnet-test/1", seenBy0.Record.AgentVersion);
        Assert.Equal("ipfs/0.1.0", seenBy0.Record.ProtocolVersion);
        Assert.Contains(PingProtocol.Id, seenBy0.Record.Protocols);
        Assert.Contains("/ipfs/id/1.0.0", seenBy0.Record.Protocols);
        Assert.Equal(hosts[1].ListenAddresses[0].WithoutPeerId(), Assert.Single(seenBy0.Record.Addresses));
        Assert.Equal(hosts[1].PublicKey, seenBy0.Record.PublicKey);

        Assert.Equal(hosts[0].PeerId, seenBy1.Peer);
        Assert.Equal("p2pnet-test/0", seenBy1.Record.AgentVersion);
        Assert.NotNull(seenBy1.Record.ObservedAddress);
    }

    [Fact]
    public async Task IdentifyPush_WhenAProtocolIsAdded_ConnectedPeersLearnIt()
    {
        await using var hosts = await StartAsync(2);
        var identified = NewSignal<PeerIdentificationCompleted>(hosts[0]);
        await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await identified.WaitAsync(Timeout);

        var pushed = NewSignal<PeerIdentificationCompleted>(hosts[0], e => e.Record.Protocols.Contains("/app/new/1.0.0"));
        hosts[1].SetStreamHandler("/app/new/1.0.0", (s, ct) => Task.CompletedTask);
        var record = await pushed.WaitAsync(Timeout);
        Assert.Contains("/app/new/1.0.0", record.Record.Protocols);
    }
}
