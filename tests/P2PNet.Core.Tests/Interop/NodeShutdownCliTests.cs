using System.Diagnostics;
using System.Runtime.InteropServices;
using P2PNet.Testing;
using P2PNet.Testing.Interop;
using P2PNet.Testing.Networking;

namespace P2PNet.Core.Tests.Interop;

/// <summary>
/// <c>p2pnet node</c> serving <c>p2pnet perf --download</c> (a huge amount) to a perf process that is then paused with
/// SIGSTOP: SIGINT must still end the node, with exit code 0, within its shutdown deadline. Both run in a network
/// namespace with small TCP buffers, so the node's own send buffers fill (on a host with large default buffers the
/// kernel would absorb the stream's whole window and hide the stall).
/// </summary>
public sealed class NodeShutdownCliTests
{
    private const int SIGINT = 2;
    private const int SIGKILL = 9;
    private const int SIGSTOP = 19;

    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    /// <summary>P2PHostOptions.ShutdownTimeout's default, which the node uses.</summary>
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Room for a heavily loaded machine; the old node never exited at all.</summary>
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(10);

    /// <summary>Bytes a socket has received once the download is under way.</summary>
    private const long DownloadRunning = 1 << 20;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    [Fact]
    public async Task Node_ExitsZeroWithinItsDeadline_OnSigint_WhileServingAPerfPeerThatIsStopped()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await using var lab = await NamespaceLab.CreateAsync("close", cancel.Token);
        string ns = await lab.AddHostAsync("node", await lab.AddSwitchAsync("10.213.1.0/24", cancel.Token), "10.213.1.10", cancel.Token);
        await lab.ExecAsync(ns, cancel.Token, "sysctl", "-q", "-w", "net.ipv4.tcp_rmem=4096 65536 131072", "net.ipv4.tcp_wmem=4096 65536 131072");
        // SIGINT is ignored by processes started in the background of a non-interactive shell, and .NET keeps it so:
        // give the node the default disposition so that it sees the signal, as an interactive user's node does.
        await using var node = lab.Start(ns, ["env", "--default-signal=INT", "dotnet", P2PNetCli.Assembly, "node"]);
        string listen = await node.WaitForLineAsync(l => l.StartsWith("LISTEN ", StringComparison.Ordinal), Step);
        string address = listen["LISTEN ".Length..].Trim();

        await using var perf = lab.Start(ns, ["dotnet", P2PNetCli.Assembly, "perf", address, "--download", "100000000000"]);
        try
        {
            await node.WaitForLineAsync(l => l.StartsWith("CONNECT ", StringComparison.Ordinal), Step);
            // Downloading for real (bytes queued on the sockets), then paused: it reads nothing more, and the node's
            // sends pile up until they block.
            await WaitForQueuesAsync(lab, ns, steady: false, cancel.Token);
            Assert.True(perf.ExitCode is null, perf.Diagnostics());
            Assert.Equal(0, Kill(perf.ProcessId, SIGSTOP));
            await WaitForQueuesAsync(lab, ns, steady: true, cancel.Token);

            var stopwatch = Stopwatch.StartNew();
            Assert.Equal(0, Kill(node.ProcessId, SIGINT));
            var exited = await Record.ExceptionAsync(() => node.WaitForExitAsync(ShutdownTimeout + Slack, cancel.Token));
            Assert.False(exited is TimeoutException, $"the node was still running {ShutdownTimeout + Slack} after SIGINT.\n{node.Diagnostics()}");
            Assert.Null(exited);
            Assert.True(node.ExitCode == 0, $"exit code {node.ExitCode} after {stopwatch.Elapsed}.\n{node.Diagnostics()}");
        }
        finally
        {
            _ = Kill(perf.ProcessId, SIGKILL); // already gone is fine: ChildProcess disposal kills it too
        }
    }

    /// <summary>
    /// Polls the TCP sockets in the namespace (<c>ss</c>): until the download runs (a socket has received a megabyte:
    /// bytes merely queued could be the handshake's or identify's, before perf has asked for anything), or
    /// (<paramref name="steady"/>) until bytes are queued and have not moved for a second — nobody reads, the sender is
    /// blocked.
    /// </summary>
    private static Task WaitForQueuesAsync(NamespaceLab lab, string ns, bool steady, CancellationToken cancellationToken)
    {
        string last = "";
        var unchangedFor = Stopwatch.StartNew();
        return Conditions.WaitUntilAsync(
            async ct =>
            {
                var sockets = await SocketsAsync(lab, ns, ct);
                if (!steady)
                {
                    return sockets.Any(q => q.BytesReceived >= DownloadRunning);
                }
                bool queued = sockets.Any(q => q.Send > 0 || q.Receive > 0);
                string now = string.Join(';', sockets.Select(q => (q.Receive, q.Send)));
                if (!queued || now != last)
                {
                    unchangedFor.Restart();
                }
                last = now;
                return queued && unchangedFor.Elapsed >= TimeSpan.FromSeconds(1);
            },
            Step,
            steady ? "the TCP queues did not settle (the paused reader's sender never blocked)" : "the download never started (no socket received a megabyte)",
            cancellationToken);
    }

    private static async Task<List<(long Receive, long Send, long BytesReceived)>> SocketsAsync(NamespaceLab lab, string ns, CancellationToken cancellationToken)
    {
        string text = await lab.ExecAsync(ns, cancellationToken, "ss", "-tniH", "state", "established");
        var result = new List<(long, long, long)>();
        (long Receive, long Send)? socket = null;
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (!char.IsWhiteSpace(line[0]))
            {
                // "Recv-Q Send-Q Local:Port Peer:Port" (the state column is left out when filtering on one state)
                socket = fields.Length >= 4 && long.TryParse(fields[0], out long receive) && long.TryParse(fields[1], out long send)
                    ? (receive, send)
                    : null;
            }
            else if (socket is { } queues)
            {
                // the socket's details, on the next line, indented: "… bytes_received:123456 …" (absent when none)
                string? field = fields.FirstOrDefault(f => f.StartsWith("bytes_received:", StringComparison.Ordinal));
                long received = field is not null && long.TryParse(field["bytes_received:".Length..], out long n) ? n : 0;
                result.Add((queues.Receive, queues.Send, received));
                socket = null;
            }
        }
        return result;
    }
}
