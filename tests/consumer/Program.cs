using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Ping;

// Two hosts from the packed P2PNet.Core: listen, dial by /p2p/ address, ping. Exit 0 and one "consumer: ok" line when
// it all works; any failure throws (non-zero exit). The other packages are touched so their assemblies must resolve.
using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
var ct = timeout.Token;

await using var listener = new P2PHost();
await using var dialer = new P2PHost();
var addresses = await listener.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"), ct);
var connection = await dialer.DialAsync(addresses[0], ct);
int pings = 0;
await foreach (var rtt in PingProtocol.PingAsync(connection, 3, ct))
{
    Console.WriteLine($"consumer: ping {rtt.TotalMilliseconds:0.00} ms");
    pings++;
}
if (pings != 3 || connection.RemotePeer != listener.PeerId)
{
    Console.Error.WriteLine($"consumer: expected 3 pings to {listener.PeerId}, got {pings} to {connection.RemotePeer}");
    return 1;
}

string[] packages =
[
    typeof(P2PHost).Assembly.GetName().Name!,
    typeof(P2PNet.Swarm.SwarmStore).Assembly.GetName().Name!,
    typeof(P2PNet.Vpn.VpnOptions).Assembly.GetName().Name!,
    typeof(P2PNet.Proxy.UdpBridge.UdpBridgeOptions).Assembly.GetName().Name!,
];
Console.WriteLine($"consumer: ok ({string.Join(", ", packages)})");
return 0;
