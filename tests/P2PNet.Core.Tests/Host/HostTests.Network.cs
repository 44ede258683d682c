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

/// <summary>The INetwork facade (config, init, dial, listen, status, stop) and the typed messenger.</summary>
public sealed partial class HostTests
{
    [Fact]
    public async Task Network_ConfigInitDialListenStatusStop_Works()
    {
        await using var a = new Libp2pNetwork(XunitLoggerProvider.CreateFactory(output));
        await using var b = new Libp2pNetwork(XunitLoggerProvider.CreateFactory(output));
        var identified = new TaskCompletionSource<PeerIdentificationCompleted>(TaskCreationOptions.RunContinuationsAsynchronously);
        a.EventRegister<PeerIdentificationCompleted>(e => identified.TrySetResult(e)); // before Init
        foreach (var network in new[] { a, b })
        {
            var config = new NetworkOptions();
            config.Host.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
            network.Config(config);
            await network.InitAsync().AsTask().WaitAsync(Timeout);
        }
        Assert.Throws<InvalidOperationException>(() => a.Config(new NetworkOptions()));
        var extra = await b.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).AsTask().WaitAsync(Timeout);
        await a.DialAsync(extra[0]).AsTask().WaitAsync(Timeout);
        await identified.Task.WaitAsync(Timeout);

        var status = a.Status();
        Assert.True(status.IsRunning);
        Assert.Equal(a.Host.PeerId, status.PeerId);
        var peer = Assert.Single(status.Peers);
        Assert.Equal(b.Host.PeerId, peer.PeerId);
        Assert.Contains(PingProtocol.Id, peer.Protocols);
        Assert.Equal(1, status.ConnectionCount);
        Assert.Equal(2, b.Status().ListenAddresses.Count);

        await a.StopAsync().AsTask().WaitAsync(Timeout);
        Assert.False(a.Status().IsRunning);
        Assert.Equal(0, a.Status().ConnectionCount);
    }

    [Fact]
    public async Task Messenger_DeliversTypedMessages_BothWays()
    {
        await using var a = await StartNetworkAsync();
        await using var b = await StartNetworkAsync();
        await a.DialAsync(b.Status().ListenAddresses[0]).AsTask().WaitAsync(Timeout);

        var atB = b.Messenger.ReceiveAsync<StringValue>().AsTask();
        await a.Messenger.SendAsync(b.Host.PeerId, new StringValue { Value = "to b" }).AsTask().WaitAsync(Timeout);
        var (from, message) = await atB.WaitAsync(Timeout);
        Assert.Equal(a.Host.PeerId, from);
        Assert.Equal("to b", message.Value);

        var received = new List<long>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = a.Messenger.Subscribe<Int64Value>((peer, m, _) =>
        {
            lock (received)
            {
                received.Add(m.Value);
                if (received.Count == 50)
                {
                    all.TrySetResult();
                }
            }
            return ValueTask.CompletedTask;
        });
        for (int i = 0; i < 50; i++)
        {
            await b.Messenger.SendAsync(a.Host.PeerId, new Int64Value { Value = i }).AsTask().WaitAsync(Timeout);
        }
        await all.Task.WaitAsync(Timeout);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), received);
    }

    private async Task<Libp2pNetwork> StartNetworkAsync()
    {
        var network = new Libp2pNetwork(XunitLoggerProvider.CreateFactory(output));
        var config = new NetworkOptions();
        config.Host.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        network.Config(config);
        await network.InitAsync().AsTask().WaitAsync(Timeout);
        return network;
    }
}
