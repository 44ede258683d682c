using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using P2PNet.Vpn;
using P2PNet.Vpn.Gateway;
using P2PNet.Vpn.NetStack;

namespace P2PNet.Bench;

/// <summary><c>egress [--mib N] [--seconds S]</c>: the rootless egress of the outbound gateway in one process, without a
/// VPN — a member's user-space stack on one end of a <see cref="UserSpacePacketDevice"/>, the <see cref="RootlessEgress"/>
/// on the other, a loopback server behind it. Prints one JSON line: one TCP flow's upload and download throughput (MB/s,
/// after a warm-up round) and TCP connects per second through the egress.</summary>
internal static class EgressRole
{
    public static async Task<int> RunAsync(Args args)
    {
        long size = args.GetLong("mib", 256) * 1024 * 1024;
        var seconds = TimeSpan.FromSeconds(args.GetLong("seconds", 5));
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        var ct = cts.Token;
        var member = IPAddress.Parse("10.90.0.2");
        await using var device = new UserSpacePacketDevice();
        await device.ConfigureAsync(member, 24, 1420, ct);
        // The member closes thousands of connections a second: a short TIME_WAIT keeps its ephemeral ports from running out.
        await using var client = new IPStack(device, member, new NetStackOptions { Mtu = 1420, TimeWaitDuration = TimeSpan.FromSeconds(1) });
        await client.StartAsync(ct);
        await using var egress = new RootlessEgress(device.ApplicationEnd);
        await egress.StartAsync(ct);
        using var server = new TcpListener(IPAddress.Loopback, 0);
        server.Start();
        int port = ((IPEndPoint)server.LocalEndpoint).Port;

        double up = 0, down = 0;
        for (int round = 0; round < 2; round++) // the first round warms up the JIT and the pools
        {
            var accept = server.AcceptSocketAsync(ct);
            await using var connection = await client.ConnectTcpAsync(IPAddress.Loopback, port, ct);
            using var socket = await accept;
            byte[] chunk = new byte[256 * 1024];
            var watch = Stopwatch.StartNew();
            var sink = DrainAsync(buffer => socket.ReceiveAsync(buffer, SocketFlags.None, ct));
            for (long left = size; left > 0; left -= chunk.Length)
            {
                await connection.WriteAsync(chunk, ct);
            }
            connection.CompleteWrites();
            up = await sink / watch.Elapsed.TotalSeconds / 1e6;
            watch.Restart();
            var source = DrainAsync(buffer => connection.ReadAsync(buffer, ct));
            for (long left = size; left > 0; left -= chunk.Length)
            {
                await socket.SendAsync(chunk, SocketFlags.None, ct);
            }
            socket.Shutdown(SocketShutdown.Send);
            down = await source / watch.Elapsed.TotalSeconds / 1e6;
        }

        using var stopAccepting = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var acceptLoop = Task.Run(async () =>
        {
            while (!stopAccepting.IsCancellationRequested)
            {
                using var accepted = await server.AcceptSocketAsync(stopAccepting.Token);
                accepted.Shutdown(SocketShutdown.Both);
            }
        }, ct);
        int connects = 0;
        var elapsed = Stopwatch.StartNew();
        while (elapsed.Elapsed < seconds)
        {
            await using var connection = await client.ConnectTcpAsync(IPAddress.Loopback, port, ct);
            connects++;
        }
        double perSecond = connects / elapsed.Elapsed.TotalSeconds;
        await stopAccepting.CancelAsync();
        try
        {
            await acceptLoop;
        }
        catch (OperationCanceledException)
        {
        }
        Console.WriteLine(Json.Line(("upload_mbps", up), ("download_mbps", down), ("connects_per_second", perSecond)));
        return 0;
    }

    private static async Task<long> DrainAsync(Func<Memory<byte>, ValueTask<int>> read)
    {
        byte[] buffer = new byte[256 * 1024];
        long total = 0;
        int n;
        while ((n = await read(buffer)) > 0)
        {
            total += n;
        }
        return total;
    }
}
