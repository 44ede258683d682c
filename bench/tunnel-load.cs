using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

// Load client for bench/tunnels.sh (a file-based app: the script copies it out of the repository and runs it with
// `dotnet run --file`): `cps PORT TOTAL CONCURRENCY` prints "CONNECTIONS_PER_SECOND ERRORS"; `hold PORT COUNT SECONDS FLAGFILE`
// opens COUNT connections (one byte echoed on each), touches FLAGFILE and holds them for SECONDS.
var port = int.Parse(args[1]);
var target = new IPEndPoint(IPAddress.Loopback, port);
if (args[0] == "cps")
{
    int total = int.Parse(args[2]), concurrency = int.Parse(args[3]), next = 0, errors = 0;
    var watch = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
    {
        var one = new byte[1];
        while (Interlocked.Increment(ref next) <= total)
        {
            try
            {
                using var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await s.ConnectAsync(target);
                await s.SendAsync("x"u8.ToArray());
                if (await s.ReceiveAsync(one) != 1) throw new IOException("closed");
                s.Shutdown(SocketShutdown.Send);
                while (await s.ReceiveAsync(one) > 0) { }
            }
            catch (Exception) { Interlocked.Increment(ref errors); }
        }
    }));
    Console.WriteLine($"{total / watch.Elapsed.TotalSeconds:0} {errors}");
}
else
{
    int count = int.Parse(args[2]);
    var held = new List<Socket>();
    var one = new byte[1];
    for (int i = 0; i < count; i++)
    {
        var s = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(target);
        await s.SendAsync("x"u8.ToArray());
        if (await s.ReceiveAsync(one) != 1) throw new IOException($"connection {i} closed");
        held.Add(s);
    }
    File.WriteAllText(args[4], "");
    await Task.Delay(TimeSpan.FromSeconds(int.Parse(args[3])));
}
