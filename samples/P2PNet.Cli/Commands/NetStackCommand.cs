using System.Buffers;
using System.Buffers.Binary;
using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using P2PNet.Vpn.NetStack;
using P2PNet.Vpn.Tun;

namespace P2PNet.Cli.Commands;

/// <summary><c>p2pnet netstack serve</c>: the user-space TCP/IP stack behind a TUN device, with echo, discard and HTTP
/// test services, for testing it against the kernel.</summary>
internal static class NetStackCommand
{
    public static Command Create()
    {
        var netstack = new Command("netstack", "Run P2PNet's user-space TCP/IP stack.");
        netstack.Subcommands.Add(CreateServe());
        return netstack;
    }

    private static Command CreateServe()
    {
        var serve = new Command("serve", "Create a TUN device, give the kernel side --kernel-address, run the stack as --address behind it "
            + "and print 'NETSTACK UP <address> dev <tun>'. Runs until SIGINT/SIGTERM. Needs CAP_NET_ADMIN. --http serves "
            + "'GET /bytes/N' (N bytes of the fixed sequence byte[i] = (i * 2654435761) >> 24, mod 2^32) and 'POST /sha256' (hex SHA-256 of the body).");
        var tun = new Option<string>("--tun") { Description = "TUN device name.", Required = true };
        var kernelAddress = new Option<string>("--kernel-address") { Description = "The kernel side's address and prefix, e.g. 10.77.0.1/24.", Required = true };
        var address = new Option<string>("--address") { Description = "The stack's own address, e.g. 10.77.0.2.", Required = true };
        var echo = new Option<int?>("--echo") { Description = "Serve TCP echo (RFC 862) on this port." };
        var discard = new Option<int?>("--discard") { Description = "Serve TCP discard (RFC 863) on this port." };
        var http = new Option<int?>("--http") { Description = "Serve the HTTP test endpoints on this port." };
        var mtu = new Option<int>("--mtu") { Description = "MTU of the link.", DefaultValueFactory = _ => 1500 };
        var cc = new Option<CongestionControlAlgorithm>("--congestion-control") { Description = "Cubic or NewReno.", DefaultValueFactory = _ => CongestionControlAlgorithm.Cubic };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log debug details to stderr." };
        var stats = new Option<bool>("--stats")
        {
            Description = "When a connection ends, print 'NETSTACK CONNECTION <remote> <statistics as JSON>' to stderr "
                + "(retransmits, timeouts, fast recoveries, lost retransmissions, SRTT, cwnd).",
        };
        var noOffload = new Option<bool>("--no-offload")
        {
            Description = "Open the TUN without offloads: the kernel and the stack exchange only MTU-sized packets (no TSO/GSO "
                + "super-packets either way), e.g. to compare with kernel-to-kernel paths that have offloads turned off.",
        };
        foreach (var option in new Option[] { tun, kernelAddress, address, echo, discard, http, mtu, cc, verbose, stats, noOffload })
        {
            serve.Options.Add(option);
        }
        serve.SetAction((parse, ct) => CliSupport.RunAsync(async () =>
        {
            string kernelText = parse.GetValue(kernelAddress)!;
            string[] parts = kernelText.Split('/', 2);
            if (parts.Length != 2 || !IPAddress.TryParse(parts[0], out var kernelIp)
                || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int prefix) || prefix is < 1 or > 32)
            {
                throw new ArgumentException($"bad --kernel-address '{kernelText}': expected e.g. 10.77.0.1/24.");
            }
            if (!IPAddress.TryParse(parse.GetValue(address), out var stackIp))
            {
                throw new ArgumentException($"bad --address '{parse.GetValue(address)}': expected e.g. 10.77.0.2.");
            }
            using var logging = CliSupport.CreateLoggerFactory(parse.GetValue(verbose));
            var shutdown = CliSupport.WaitForShutdownAsync(ct);
            await using var device = TunDevice.Create(parse.GetValue(tun)!, offload: !parse.GetValue(noOffload));
            await device.ConfigureAsync(kernelIp, prefix, parse.GetValue(mtu), ct);
            var options = new NetStackOptions { Mtu = parse.GetValue(mtu), CongestionControl = parse.GetValue(cc) };
            await using var stack = new IPStack(device, stackIp, options, loggerFactory: logging);
            await stack.StartAsync(ct);
            using var stopping = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var services = new List<Task>();
            if (parse.GetValue(echo) is { } echoPort)
            {
                services.Add(ServeAsync(stack.ListenTcp(echoPort), EchoAsync, parse.GetValue(stats), stopping.Token));
            }
            if (parse.GetValue(discard) is { } discardPort)
            {
                services.Add(ServeAsync(stack.ListenTcp(discardPort), DiscardAsync, parse.GetValue(stats), stopping.Token));
            }
            if (parse.GetValue(http) is { } httpPort)
            {
                services.Add(ServeAsync(stack.ListenTcp(httpPort), HttpAsync, parse.GetValue(stats), stopping.Token));
            }
            CliSupport.WriteLine($"NETSTACK UP {stackIp} dev {device.Name}",
                new EventLine("netstack_up") { Address = stackIp.ToString(), Device = device.Name });
            await shutdown;
            await stopping.CancelAsync();
            await Task.WhenAll(services);
            return ExitCodes.Ok;
        }));
        return serve;
    }

    /// <summary>Accepts until cancelled; every connection's handler is tracked and awaited before returning.</summary>
    private static async Task ServeAsync(TcpPortListener listener, Func<TcpConnection, CancellationToken, Task> handler, bool stats,
        CancellationToken ct)
    {
        using (listener)
        {
            var running = new HashSet<Task>();
            try
            {
                while (true)
                {
                    var connection = await listener.AcceptAsync(ct);
                    running.RemoveWhere(t => t.IsCompleted);
                    running.Add(HandleAsync(connection, handler, stats, ct));
                }
            }
            catch (OperationCanceledException)
            {
            }
            await Task.WhenAll(running);
        }
    }

    private static async Task HandleAsync(TcpConnection connection, Func<TcpConnection, CancellationToken, Task> handler, bool stats,
        CancellationToken ct)
    {
        await using (connection)
        {
            try
            {
                await handler(connection, ct);
            }
            catch (Exception e) when (e is TcpConnectionException or OperationCanceledException or InvalidOperationException or FormatException)
            {
                connection.Abort();
            }
        }
        if (stats)
        {
            // Once what was sent is acknowledged (our FIN too), or after 10 s: disposal does not wait for that.
            for (int i = 0; i < 1000 && connection.State is not (TcpState.FinWait2 or TcpState.TimeWait or TcpState.Closed); i++)
            {
                await Task.Delay(10, CancellationToken.None);
            }
            await Console.Error.WriteLineAsync($"NETSTACK CONNECTION {connection.RemoteEndPoint} "
                + System.Text.Json.JsonSerializer.Serialize(connection.GetStatistics(), CliJsonContext.Default.TcpConnectionStatistics));
        }
    }

    // Both services wait with a zero-byte read and take a buffer only while data is there, so idle connections hold none.
    private static async Task EchoAsync(TcpConnection connection, CancellationToken ct)
    {
        while (await ReadPooledAsync(connection, (data, token) => connection.WriteAsync(data, token), ct))
        {
        }
        connection.CompleteWrites();
    }

    private static async Task DiscardAsync(TcpConnection connection, CancellationToken ct)
    {
        while (await ReadPooledAsync(connection, static (_, _) => ValueTask.CompletedTask, ct))
        {
        }
        connection.CompleteWrites();
    }

    /// <summary>Waits for data, reads it into a pooled buffer and hands it to <paramref name="consume"/>; false at the end.</summary>
    private static async Task<bool> ReadPooledAsync(TcpConnection connection, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> consume, CancellationToken ct)
    {
        await connection.ReadAsync(Memory<byte>.Empty, ct);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int n = await connection.ReadAsync(buffer, ct);
            if (n == 0)
            {
                return false;
            }
            await consume(buffer.AsMemory(0, n), ct);
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>One request per connection: <c>GET /bytes/N</c> or <c>POST /sha256</c> (Content-Length body).</summary>
    private static async Task HttpAsync(TcpConnection connection, CancellationToken ct)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int filled = 0;
            int headerEnd;
            while ((headerEnd = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) < 0)
            {
                if (filled == 16 * 1024)
                {
                    await RespondAsync(connection, "431 Request Header Fields Too Large", "headers too large\n", ct);
                    return;
                }
                int n = await connection.ReadAsync(buffer.AsMemory(filled, 16 * 1024 - filled), ct);
                if (n == 0)
                {
                    return;
                }
                filled += n;
            }
            string head = Encoding.ASCII.GetString(buffer, 0, headerEnd);
            string[] lines = head.Split("\r\n");
            string[] request = lines[0].Split(' ');
            if (request.Length < 2)
            {
                await RespondAsync(connection, "400 Bad Request", "bad request line\n", ct);
                return;
            }
            if (request[0] == "GET" && request[1].StartsWith("/bytes/", StringComparison.Ordinal)
                && long.TryParse(request[1].AsSpan(7), NumberStyles.None, CultureInfo.InvariantCulture, out long count))
            {
                await WriteAsciiAsync(connection, $"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {count}\r\nConnection: close\r\n\r\n", ct);
                for (long offset = 0; offset < count;)
                {
                    int chunk = (int)Math.Min(buffer.Length, count - offset);
                    FillSequence(buffer.AsSpan(0, chunk), offset);
                    await connection.WriteAsync(buffer.AsMemory(0, chunk), ct);
                    offset += chunk;
                }
                connection.CompleteWrites();
                await DrainAsync(connection, buffer, ct);
                return;
            }
            if (request[0] == "POST" && request[1] == "/sha256")
            {
                long length = -1;
                foreach (string line in lines.Skip(1))
                {
                    if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                    {
                        length = long.Parse(line.AsSpan(15).Trim(), NumberStyles.None, CultureInfo.InvariantCulture);
                    }
                }
                if (length < 0)
                {
                    await RespondAsync(connection, "411 Length Required", "Content-Length required\n", ct);
                    return;
                }
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                int already = (int)Math.Min(filled - (headerEnd + 4), length);
                hash.AppendData(buffer, headerEnd + 4, already);
                long left = length - already;
                while (left > 0)
                {
                    int n = await connection.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), ct);
                    if (n == 0)
                    {
                        return;
                    }
                    hash.AppendData(buffer, 0, n);
                    left -= n;
                }
                await RespondAsync(connection, "200 OK", Convert.ToHexStringLower(hash.GetHashAndReset()) + "\n", ct);
                await DrainAsync(connection, buffer, ct);
                return;
            }
            await RespondAsync(connection, "404 Not Found", "try GET /bytes/N or POST /sha256\n", ct);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The fixed test sequence: byte i is the top byte of i × 2654435761 (mod 2^32).</summary>
    internal static void FillSequence(Span<byte> destination, long offset)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = (byte)((uint)((offset + i) * 2654435761L) >> 24);
        }
    }

    // After our FIN, read to the peer's FIN so closing sends no reset for unread bytes.
    private static async Task DrainAsync(TcpConnection connection, byte[] buffer, CancellationToken ct)
    {
        while (await connection.ReadAsync(buffer, ct) > 0)
        {
        }
    }

    private static async Task RespondAsync(TcpConnection connection, string status, string body, CancellationToken ct)
    {
        await WriteAsciiAsync(connection, $"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}", ct);
        connection.CompleteWrites();
    }

    private static ValueTask WriteAsciiAsync(TcpConnection connection, string text, CancellationToken ct) =>
        connection.WriteAsync(Encoding.ASCII.GetBytes(text), ct);
}
