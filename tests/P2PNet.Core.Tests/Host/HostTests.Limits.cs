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

/// <summary>Hostile or excess inbound connections: garbage, silent clients, the connection limit.</summary>
public sealed partial class HostTests
{
    [Fact]
    public async Task GarbageBeforeMultistream_ClosesOnlyThatConnection()
    {
        await using var hosts = await StartAsync(2);
        Assert.True(hosts[1].ListenAddresses[0].TryGetTcpEndPoint(out var endPoint));
        using (var client = new TcpClient())
        {
            await client.ConnectAsync(endPoint).WaitAsync(Timeout);
            var stream = client.GetStream();
            await stream.WriteAsync(RandomNumberGenerator.GetBytes(4096)).AsTask().WaitAsync(Timeout);
            // The host closes the connection at once: the read ends (0 bytes or a reset) well before the handshake
            // timeout would have dropped us anyway, so a host that ignored the garbage fails here.
            Assert.True(await ReadUntilClosedAsync(stream).WaitAsync(new P2PHostOptions().HandshakeTimeout * 2 / 3));
        }
        var ok = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        Assert.Equal(hosts[1].PeerId, ok.RemotePeer);
    }

    [Fact]
    public async Task SilentClient_IsDroppedAfterTheConfiguredHandshakeTimeout_NotTheDefault()
    {
        var configured = TimeSpan.FromMilliseconds(500);
        var defaultTimeout = new P2PHostOptions().HandshakeTimeout;
        Assert.True(defaultTimeout >= TimeSpan.FromSeconds(10), "the test tells the two limits apart by a wide margin");
        await using var hosts = await StartAsync(1, (i, o) => o.HandshakeTimeout = configured);
        Assert.True(hosts[0].ListenAddresses[0].TryGetTcpEndPoint(out var endPoint));
        using var client = new TcpClient();
        await client.ConnectAsync(endPoint).WaitAsync(Timeout);
        var connected = Stopwatch.StartNew();

        // The host sends its multistream header, then gives up on us and closes: a read returns 0 or fails with a reset.
        // The wait is bounded well below the default limit, so a host that ignored the configured one fails here.
        var dropped = await ReadUntilClosedAsync(client.GetStream()).WaitAsync(defaultTimeout * 2 / 3);

        Assert.True(dropped, "the connection was not closed");
        Assert.True(connected.Elapsed >= configured / 2, $"dropped after {connected.Elapsed}, before the {configured} limit");
    }

    /// <summary>Reads until the remote closes: true on a clean end or a reset.</summary>
    private static async Task<bool> ReadUntilClosedAsync(Stream stream)
    {
        var buffer = new byte[1024];
        try
        {
            while (await stream.ReadAsync(buffer).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (IOException)
        {
        }
        return true;
    }

    [Fact]
    public async Task MaxConnections_RefusesInboundBeyondTheLimit()
    {
        await using var hosts = await StartAsync(3, (i, o) => o.MaxConnections = i == 2 ? 1 : 1024);
        await hosts[0].DialAsync(hosts[2].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
        await WaitForConnectionCountAsync(hosts[2], 1); // the dialer can finish its side of the handshake first
        await Assert.ThrowsAnyAsync<IOException>(() => hosts[1].DialAsync(hosts[2].ListenAddresses[0]).AsTask().WaitAsync(Timeout));
        Assert.Single(hosts[2].Connections);
    }

    /// <summary>Waits until <paramref name="host"/> has registered <paramref name="count"/> connections (fails after <see cref="Timeout"/>).</summary>
    private static Task WaitForConnectionCountAsync(P2PHost host, int count) =>
        Conditions.WaitUntilAsync(() => host.Connections.Count == count, Timeout,
            () => $"the host has {host.Connections.Count} connections, expected {count}");

    [Fact]
    public async Task MaxConnections_HoldsUnderABurstOfConcurrentInboundDials()
    {
        // Connections still in their handshake count against the limit: a burst cannot all pass the check at once.
        await using var hosts = await StartAsync(7, (i, o) => o.MaxConnections = i == 6 ? 2 : 1024);
        var dials = Enumerable.Range(0, 6).Select(i => hosts[i].DialAsync(hosts[6].ListenAddresses[0]).AsTask().WaitAsync(Timeout)).ToArray();
        try
        {
            await Task.WhenAll(dials);
        }
        catch (Exception)
        {
            // refusals are expected
        }
        // A refused dial fails at the dialer (the listener drops it before multistream), so successes are the connections.
        int succeeded = dials.Count(d => d.IsCompletedSuccessfully);
        Assert.InRange(succeeded, 1, 2);
        await WaitForConnectionCountAsync(hosts[6], succeeded); // the listener registers each as its side of the handshake ends
    }
}
