using System.Buffers;
using System.Threading.Channels;
using Google.Protobuf;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.PubSub;
using P2PNet.Protocols.PubSub.Internal;
using P2PNet.Protocols.PubSub.Protos;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.PubSub;

/// <summary>Hosts with a gossipsub router each, on loopback, with a fast heartbeat so meshes form quickly.</summary>
internal sealed class GossipTestNetwork : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private GossipTestNetwork(TestHostGroup hosts, List<GossipSubRouter> routers)
    {
        Hosts = hosts;
        Routers = routers;
    }

    public TestHostGroup Hosts { get; }

    public List<GossipSubRouter> Routers { get; }

    public static GossipSubOptions FastOptions() => new()
    {
        HeartbeatInterval = TimeSpan.FromMilliseconds(200),
        IWantFollowupTime = TimeSpan.FromSeconds(5),
    };

    public static async Task<GossipTestNetwork> StartAsync(int count, Func<GossipSubOptions>? options = null)
    {
        // Every node on 127.0.0.1: a public node's per-IP budgets (16 inbound connections, 8 handshakes at once) would
        // shed some of the network's own links when a loaded machine slows the handshakes down.
        var hosts = await TestHostGroup.StartAsync(count, (_, o) =>
        {
            o.Resources.MaxInboundConnectionsPerIp = 1024;
            o.Resources.MaxInboundHandshakesPerIp = 1024;
        }).WaitAsync(Timeout);
        var routers = new List<GossipSubRouter>();
        foreach (var host in hosts.Hosts)
        {
            var router = new GossipSubRouter(host, (options ?? FastOptions)());
            await router.StartAsync();
            routers.Add(router);
        }
        return new GossipTestNetwork(hosts, routers);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var router in Routers)
        {
            await router.DisposeAsync().AsTask().WaitAsync(Timeout);
        }
        await Hosts.DisposeAsync().AsTask().WaitAsync(Timeout);
    }

    /// <summary>Waits for <paramref name="condition"/>, polling; fails the test with <paramref name="what"/> after the timeout.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Timeout);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for {what}.");
            }
            await Task.Delay(50);
        }
    }
}

/// <summary>
/// A hand-driven pubsub peer: a plain host that speaks <c>/meshsub/1.1.0</c> by writing crafted RPCs, and records the
/// RPCs the router sends it. It plays the hostile peer in tests.
/// </summary>
internal sealed class RawPubSubPeer : IAsyncDisposable
{
    private readonly P2PHost _host;
    private P2PStream? _stream;

    private RawPubSubPeer(P2PHost host) => _host = host;

    public Channel<PbRpc> Received { get; } = Channel.CreateUnbounded<PbRpc>();

    public PeerId PeerId => _host.PeerId;

    public P2PHost Host => _host;

    public static async Task<RawPubSubPeer> ConnectAsync(P2PHost target, PrivateKey? identity = null)
    {
        var options = new P2PHostOptions { Identity = identity };
        options.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        var host = new P2PHost(options);
        var peer = new RawPubSubPeer(host);
        host.SetStreamHandler(GossipSubRouter.MeshsubV11ProtocolId, peer.RecordAsync);
        await host.StartAsync().AsTask().WaitAsync(GossipTestNetwork.Timeout);
        await host.DialAsync(target.ListenAddresses[0].WithPeerId(target.PeerId)).AsTask().WaitAsync(GossipTestNetwork.Timeout);
        peer._stream = await host.OpenStreamAsync(target.PeerId, GossipSubRouter.MeshsubV11ProtocolId).AsTask().WaitAsync(GossipTestNetwork.Timeout);
        return peer;
    }

    private async Task RecordAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        try
        {
            while (await LengthPrefixed.ReadAsync(stream.Input, 4 * 1024 * 1024, cancellationToken).ConfigureAwait(false) is { } frame)
            {
                await Received.Writer.WriteAsync(PbRpc.Parser.ParseFrom(frame), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    public P2PStream Stream => _stream!;

    public async Task SendAsync(PbRpc rpc)
    {
        var writer = new ArrayBufferWriter<byte>();
        LengthPrefixed.Write(writer, rpc.ToByteArray());
        await Stream.WriteAsync(writer.WrittenMemory).AsTask().WaitAsync(GossipTestNetwork.Timeout);
        await Stream.FlushAsync().WaitAsync(GossipTestNetwork.Timeout);
    }

    public async Task SendRawAsync(byte[] bytes)
    {
        await Stream.WriteAsync(bytes).AsTask().WaitAsync(GossipTestNetwork.Timeout);
        await Stream.FlushAsync().WaitAsync(GossipTestNetwork.Timeout);
    }

    private long _seqno;

    /// <summary>A message authored and signed by this peer (or by <paramref name="signer"/> when given, to forge).</summary>
    public PbMessage Message(string topic, string text, PrivateKey? signer = null)
    {
        byte[] seqno = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(seqno, Interlocked.Increment(ref _seqno));
        var message = new PbMessage
        {
            From = ByteString.CopyFrom(_host.PeerId.Bytes),
            Data = ByteString.CopyFromUtf8(text),
            Seqno = ByteString.CopyFrom(seqno),
            Topic = topic,
        };
        MessageSigning.Sign(message, signer ?? _host.Identity, _host.PeerId);
        return message;
    }

    public static PbRpc Subscribe(params string[] topics)
    {
        var rpc = new PbRpc();
        foreach (var topic in topics)
        {
            rpc.Subscriptions.Add(new PbRpc.Types.SubOpts { Subscribe = true, Topicid = topic });
        }
        return rpc;
    }

    public async ValueTask DisposeAsync()
    {
        if (_stream is not null)
        {
            await _stream.DisposeAsync();
        }
        await _host.DisposeAsync().AsTask().WaitAsync(GossipTestNetwork.Timeout);
    }
}
