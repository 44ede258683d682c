using System.Collections.Concurrent;
using System.Text;
using P2PNet.Multiformats;
using P2PNet.Protocols.PubSub;
using P2PNet.Testing.Interop;

namespace P2PNet.Core.Tests.PubSub;

/// <summary>
/// Gossipsub with js-libp2p 3.3.11 and @libp2p/gossipsub 17.1.1 (tests/interop/gossip.mjs): a mixed mesh exchanges
/// signed messages both ways on one topic, in-process routers and the <c>p2pnet pubsub</c> CLI alike.
/// </summary>
public sealed class GossipSubJsInteropTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task MixedMesh_OfP2PNetAndJsNodes_ExchangesMessagesBothWays()
    {
        await using var js1 = await JsLibp2p.StartScriptAsync("gossip.mjs", ["--topic", "jobs", "--publish", "from-js1", "--every-ms", "500"], Timeout);
        await using var js2 = await JsLibp2p.StartScriptAsync("gossip.mjs", ["--topic", "jobs", "--publish", "from-js2", "--every-ms", "500", "--bootstrap", js1.ListenAddress()], Timeout);
        await using var network = await GossipTestNetwork.StartAsync(2);
        await network.Hosts.ConnectAllAsync().WaitAsync(Timeout);
        foreach (var host in network.Hosts.Hosts)
        {
            await host.DialAsync(Multiaddr.Parse(js1.ListenAddress())).AsTask().WaitAsync(Timeout);
            await host.DialAsync(Multiaddr.Parse(js2.ListenAddress())).AsTask().WaitAsync(Timeout);
        }
        var received = new ConcurrentDictionary<(int Node, string Text, string From), bool>();
        var readers = new List<(PubSubSubscription, Task)>();
        for (int i = 0; i < network.Routers.Count; i++)
        {
            int node = i;
            var subscription = await network.Routers[i].SubscribeAsync("jobs").AsTask().WaitAsync(Timeout);
            readers.Add((subscription, Task.Run(async () =>
            {
                await foreach (var message in subscription)
                {
                    received.TryAdd((node, Encoding.UTF8.GetString(message.Data.Span), message.From?.ToString() ?? "-"), true);
                }
            })));
        }
        try
        {
            // Publish from each P2PNet node until both js nodes have printed it (meshes take a few heartbeats to form).
            for (int i = 0; i < network.Routers.Count; i++)
            {
                string text = $"from-net{i}";
                string line = $"MESSAGE jobs {network.Hosts[i].PeerId} {text}";
                using var published = new CancellationTokenSource(Timeout);
                var seen = Task.WhenAll(js1.WaitForLineAsync(l => l == line, Timeout), js2.WaitForLineAsync(l => l == line, Timeout));
                while (!seen.IsCompleted)
                {
                    await network.Routers[i].PublishAsync("jobs", Encoding.UTF8.GetBytes(text)).AsTask().WaitAsync(Timeout);
                    await Task.WhenAny(seen, Task.Delay(500, published.Token));
                    published.Token.ThrowIfCancellationRequested();
                }
                await seen;
            }
            await GossipTestNetwork.WaitUntilAsync(() =>
                Enumerable.Range(0, 2).All(n => received.ContainsKey((n, "from-js1", js1.PeerId)) && received.ContainsKey((n, "from-js2", js2.PeerId))),
                "both js nodes' messages at both P2PNet nodes", Timeout);
        }
        finally
        {
            foreach (var (subscription, reader) in readers)
            {
                await subscription.DisposeAsync();
                await reader.WaitAsync(Timeout);
            }
        }
    }

    [Fact]
    public async Task PubSubCli_AndJsNode_ExchangeMessagesBothWays()
    {
        await using var js = await JsLibp2p.StartScriptAsync("gossip.mjs", ["--topic", "jobs", "--publish", "from-js", "--every-ms", "500"], Timeout);
        await using var cli = await P2PNetCli.StartAsync(["pubsub", "--topic", "jobs", "--bootstrap", js.ListenAddress(), "--publish", "from-cli", "--every", "500ms"], Timeout);
        Assert.All(cli.ListenAddresses, a => Assert.EndsWith($"/p2p/{cli.PeerId}", a, StringComparison.Ordinal));
        await cli.WaitForLineAsync(l => l == "SUBSCRIBED jobs", Timeout);
        await cli.WaitForLineAsync(l => l == $"MESSAGE jobs {js.PeerId} from-js", Timeout);
        await js.WaitForLineAsync(l => l == $"MESSAGE jobs {cli.PeerId} from-cli", Timeout);
    }
}
