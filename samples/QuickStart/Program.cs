// P2PNet QuickStart: three libp2p hosts in one process, on loopback. They listen, connect, identify each other,
// ping, and exchange typed protobuf messages through the messenger. Every step prints what happened.
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Networking;
using P2PNet.Protocols.Ping;
using QuickStart;

using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
var ct = timeout.Token;

Console.WriteLine("P2PNet QuickStart — three libp2p nodes on 127.0.0.1\n");

string[] names = ["alice", "bob", "carol"];
var networks = new List<INetwork>();
var identified = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
int identifications = 0;

foreach (var name in names)
{
    // Config → EventRegister → Init: the Network interface.
    var network = new Libp2pNetwork();
    var config = new NetworkOptions();
    config.Host.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
    config.Host.AgentVersion = $"quickstart-{name}/1.0";
    network.Config(config);
    network.EventRegister<PeerConnectednessChanged>(e =>
        Console.WriteLine($"  [{name}] {e.Connectedness} {Short(e.Peer.ToString())}"));
    network.EventRegister<PeerIdentificationCompleted>(e =>
    {
        Console.WriteLine($"  [{name}] identified {Short(e.Peer.ToString())}: agent '{e.Record.AgentVersion}', {e.Record.Protocols.Count} protocols");
        if (Interlocked.Increment(ref identifications) == 4)
        {
            identified.TrySetResult();
        }
    });
    await network.InitAsync(ct);
    networks.Add(network);
    Console.WriteLine($"{name,-6} is {network.Host.PeerId}");
    foreach (var address in network.Status().ListenAddresses)
    {
        Console.WriteLine($"       listening on {address}");
    }
}

var (alice, bob, carol) = (networks[0], networks[1], networks[2]);

Console.WriteLine("\nalice dials bob and carol (TCP → Noise → Yamux):");
await alice.DialAsync(bob.Status().ListenAddresses[0], ct);
await alice.DialAsync(carol.Status().ListenAddresses[0], ct);
await identified.Task.WaitAsync(ct); // both sides of both connections ran identify

Console.WriteLine("\nalice pings bob three times:");
var toBob = alice.Host.GetConnections(bob.Host.PeerId)[0];
await foreach (var rtt in PingProtocol.PingAsync(toBob, 3, ct))
{
    Console.WriteLine($"  rtt {rtt.TotalMilliseconds:0.000} ms");
}

Console.WriteLine("\nbob and carol subscribe to ChatMessage; alice sends one to each:");
var received = new CountdownEvent(2);
foreach (var (network, name) in new[] { (bob, "bob"), (carol, "carol") })
{
    network.Messenger.Subscribe<ChatMessage>((from, message, _) =>
    {
        Console.WriteLine($"  [{name}] got \"{message.Text}\" from {Short(from.ToString())}");
        received.Signal();
        return ValueTask.CompletedTask;
    });
}
await alice.Messenger.SendAsync(bob.Host.PeerId, new ChatMessage { Text = "hello bob", SentUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() }, ct);
await alice.Messenger.SendAsync(carol.Host.PeerId, new ChatMessage { Text = "hello carol", SentUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() }, ct);
await Task.Run(() => received.Wait(ct), ct);

Console.WriteLine("\nalice's status:");
var status = alice.Status();
Console.WriteLine($"  peer {Short(status.PeerId.ToString())}, {status.ConnectionCount} connections, {status.StreamCount} open streams");
foreach (var peer in status.Peers)
{
    Console.WriteLine($"  connected to {Short(peer.PeerId.ToString())} ({peer.AgentVersion}) at {peer.Addresses[0]}");
}

Console.WriteLine("\nstopping every node");
foreach (var network in networks)
{
    await network.DisposeAsync();
}
Console.WriteLine("done.");
return 0;

static string Short(string id) => id.Length > 16 ? id[..8] + "…" + id[^6..] : id;
