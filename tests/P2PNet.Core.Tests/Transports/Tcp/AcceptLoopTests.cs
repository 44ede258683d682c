using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Ping;
using P2PNet.Testing;
using P2PNet.Testing.Interop;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Transports;

/// <summary>
/// Listeners survive running out of file descriptors: a real <c>p2pnet node</c> process gets a low descriptor limit
/// (<c>prlimit --pid</c>), is flooded with connections until accept fails with EMFILE, and after they close a new dial
/// is served — the accept loop backed off and kept going instead of ending for good.
/// </summary>
public sealed class AcceptLoopTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("/ip4/127.0.0.1/tcp/0")]
    [InlineData("/ip4/127.0.0.1/tcp/0/ws")]
    public async Task AcceptLoop_AfterRunningOutOfFileDescriptors_ServesNewDials(string listen)
    {
        await using var node = await P2PNetCli.StartNodeAsync(["--listen", listen], Step).WaitAsync(Step);
        var address = Multiaddr.Parse(node.ListenAddresses[0]);
        Assert.True(address.TryGetTcpEndPoint(out var endPoint));

        // Warm the node up (its dial-serving code is compiled before descriptors run out), then leave it some descriptors
        // beyond what it holds now and open far more connections than that.
        await DialAndPingAsync(address);
        int open = Directory.GetFiles($"/proc/{node.ProcessId}/fd").Length;
        await RunAsync("prlimit", "--pid", node.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), $"--nofile={open + 40}:{open + 40}");
        var flood = new List<Socket>();
        try
        {
            for (int i = 0; i < 200; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                flood.Add(socket);
                try
                {
                    // Five per source address (127.0.0.2, .3, …), under the per-IP handshake limit, so the node holds
                    // them (a flood from one address is refused at once and would never use up its descriptors).
                    socket.Bind(new IPEndPoint(new IPAddress([127, 0, 0, (byte)(2 + i / 5)]), 0));
                    await socket.ConnectAsync(endPoint).WaitAsync(Step); // completes from the backlog, accepted or not
                }
                catch (SocketException)
                {
                    // refused or reset while the node is out of descriptors: the flood does its work either way
                }
            }
            // Every descriptor the node may have is in use and an accept has failed (EMFILE): wait for its report, not for
            // a descriptor count (a count near the limit can be reached before any accept fails, and closing the flood
            // then would leave nothing for the node to report).
            await Muxing.YamuxTest.WaitUntilAsync(() => node.HasExited || node.Stderr.Contains("Accepting on", StringComparison.Ordinal), "the node has reported a failing accept");
        }
        finally
        {
            foreach (var socket in flood)
            {
                socket.Dispose();
            }
        }

        // The node frees the flood's descriptors as it reads their end or their handshakes time out; until then it sheds
        // new connections near its limit (a reset). A new dial is accepted, upgraded and served once descriptors are free.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(45);
        while (true)
        {
            try
            {
                await DialAndPingAsync(address);
                break;
            }
            catch (IOException e) when (!node.HasExited && DateTime.UtcNow < deadline)
            {
                output.WriteLine($"dial after the flood: {e.Message}; retrying");
                await Task.Delay(250);
            }
            catch (IOException e)
            {
                Assert.Fail($"{e.Message}\n{node.Diagnostics()}");
            }
        }
        Assert.False(node.HasExited, node.Diagnostics());

        // It reported the failing accepts, at a bounded rate.
        int reports = node.Stderr.Split('\n').Count(l => l.Contains("Accepting on", StringComparison.Ordinal));
        Assert.InRange(reports, 1, 10);
    }

    private async Task DialAndPingAsync(Multiaddr address)
    {
        await using var client = new P2PHost(loggerFactory: XunitLoggerProvider.CreateFactory(output));
        var connection = await client.DialAsync(address).AsTask().WaitAsync(Step);
        using var pingTimeout = new CancellationTokenSource(Step);
        await foreach (var rtt in PingProtocol.PingAsync(connection, 1, pingTimeout.Token))
        {
            Assert.True(rtt > TimeSpan.Zero);
        }
    }

    private static async Task RunAsync(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(Step);
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} failed: {await stderr}");
    }
}
