using System.Buffers.Binary;
using System.Text.Json;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Perf;
using P2PNet.Testing.Interop;
using P2PNet.Testing.Processes;

namespace P2PNet.Core.Tests.Cli;

/// <summary><c>--json</c> on every command prints lines that parse, and <c>perf</c> reports its progress every second.</summary>
public sealed class CliJsonOutputTests : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Run = TimeSpan.FromSeconds(120);
    private readonly string _dir = Directory.CreateTempSubdirectory("p2pnet-json-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task KeyNewAndId_WithJson_PrintTheSamePeerIdAsJson()
    {
        string keyFile = Path.Combine(_dir, "node.key");
        var created = Single((await P2PNetCli.RunAsync(["key", "new", "--out", keyFile, "--json"], Run).WaitAsync(Run)).EnsureSuccess());
        Assert.Equal("key", created.GetProperty("type").GetString());
        string peer = created.GetProperty("peer").GetString()!;
        Assert.StartsWith("12D3KooW", peer, StringComparison.Ordinal);

        var id = Single((await P2PNetCli.RunAsync(["id", "--key", keyFile, "--json"], Run).WaitAsync(Run)).EnsureSuccess());
        Assert.Equal("id", id.GetProperty("type").GetString());
        Assert.Equal(peer, id.GetProperty("peer").GetString());

        // Without --json the text stays exactly as before: the bare peer id.
        var text = (await P2PNetCli.RunAsync(["id", "--key", keyFile], Run).WaitAsync(Run)).EnsureSuccess();
        Assert.Equal(peer, Assert.Single(text.StdoutLines));
    }

    [Fact]
    public async Task NodeAndClientCommands_WithJson_PrintOnlyJsonLines()
    {
        await using var node = P2PNetCli.StartProcess(["node", "--json"]);
        var listen = JsonDocument.Parse(await node.WaitForLineAsync(l => l.Contains("\"listen\"", StringComparison.Ordinal), Step).WaitAsync(Step)).RootElement;
        Assert.Equal("listen", listen.GetProperty("type").GetString());
        string target = listen.GetProperty("address").GetString()!;
        Assert.Contains("/p2p/12D3KooW", target, StringComparison.Ordinal);

        var ping = (await P2PNetCli.RunAsync(["ping", target, "--count", "2", "--json"], Run).WaitAsync(Run)).EnsureSuccess();
        Assert.Equal(2, ping.JsonLines.Count(j => j.GetProperty("rtt_ms").GetDouble() > 0));
        var echo = Single((await P2PNetCli.RunAsync(["echo", target, "--bytes", "100", "--json"], Run).WaitAsync(Run)).EnsureSuccess());
        Assert.True(echo.GetProperty("ok").GetBoolean());
        var perf = (await P2PNetCli.RunAsync(["perf", target, "--upload", "1000", "--download", "1000", "--json"], Run).WaitAsync(Run)).EnsureSuccess();
        Assert.Equal(1000, perf.JsonLines[^1].GetProperty("download_bytes").GetInt64());

        // The node reported the client's connection as a JSON line too.
        var connect = JsonDocument.Parse(await node.WaitForLineAsync(l => l.Contains("\"connect\"", StringComparison.Ordinal), Step).WaitAsync(Step)).RootElement;
        Assert.StartsWith("12D3KooW", connect.GetProperty("peer").GetString(), StringComparison.Ordinal);
        Assert.All(node.Lines, l => JsonDocument.Parse(l).Dispose());
    }

    [Fact]
    public async Task SwarmCommands_WithJson_PrintJsonLines()
    {
        string swarmKey = Path.Combine(_dir, "swarm.key");
        var key = Single((await P2PNetCli.RunAsync(["swarm", "key", "new", "--out", swarmKey, "--json"], Run).WaitAsync(Run)).EnsureSuccess());
        Assert.Equal("swarm_key", key.GetProperty("type").GetString());
        Assert.Equal(32, key.GetProperty("fingerprint").GetString()!.Length);

        string ownerKey = Path.Combine(_dir, "owner.key");
        (await P2PNetCli.RunAsync(["key", "new", "--out", ownerKey], Run).WaitAsync(Run)).EnsureSuccess();
        string db = Path.Combine(_dir, "owner.db");
        var init = Single((await P2PNetCli.RunAsync(["swarm", "init", "--db", db, "--key", ownerKey, "--id", "lab", "--json"], Run).WaitAsync(Run)).EnsureSuccess());
        Assert.Equal("lab", init.GetProperty("swarm_id").GetString());
        var status = Single((await P2PNetCli.RunAsync(["swarm", "status", "--db", db, "--key", ownerKey, "--json"], Run).WaitAsync(Run)).EnsureSuccess());
        Assert.Equal("owner", status.GetProperty("role").GetString());

        await using var serve = P2PNetCli.StartProcess(["swarm", "serve", "--db", db, "--key", ownerKey, "--public", "--json"]);
        var listen = JsonDocument.Parse(await serve.WaitForLineAsync(l => l.Contains("\"listen\"", StringComparison.Ordinal), Step).WaitAsync(Step)).RootElement;
        Assert.Contains("/p2p/", listen.GetProperty("address").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bridge_WithJson_PrintsItsUrlAsJson()
    {
        await using var bridge = P2PNetCli.StartProcess(["bridge", "ws-udp", "--listen", "127.0.0.1:0", "--json"]);
        var line = JsonDocument.Parse(await bridge.WaitForLineAsync(l => l.StartsWith('{'), Step).WaitAsync(Step)).RootElement;
        Assert.Equal("bridge", line.GetProperty("type").GetString());
        Assert.StartsWith("ws://127.0.0.1:", line.GetProperty("url").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Perf_PrintsIntermediaryLinesEverySecond_ThenTheResultLine()
    {
        // A perf server that trickles its download over about three seconds, so the run lasts long enough on any machine.
        const long download = 30 * 16 * 1024;
        await using var host = new P2PHost();
        host.SetStreamHandler(PerfProtocol.Id, async (stream, ct) =>
        {
            byte[] header = new byte[8];
            await stream.ReadExactlyAsync(header, ct);
            long wanted = (long)BinaryPrimitives.ReadUInt64BigEndian(header);
            byte[] buffer = new byte[16 * 1024];
            while (await stream.ReadAsync(buffer, ct) > 0)
            {
                // discard the upload
            }
            using var pace = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
            for (long left = wanted; left > 0; left -= buffer.Length)
            {
                await pace.WaitForNextTickAsync(ct);
                await stream.WriteAsync(buffer.AsMemory(0, (int)Math.Min(left, buffer.Length)), ct);
            }
            await stream.CompleteWritesAsync(ct);
        });
        var bound = await host.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")).AsTask().WaitAsync(Step);

        var result = (await P2PNetCli.RunAsync(["perf", bound[0].ToString(), "--upload", "1000", "--download", $"{download}"], Run).WaitAsync(Run)).EnsureSuccess();
        var lines = result.JsonLines;
        var progress = lines.Take(lines.Count - 1).ToArray();
        Assert.True(progress.Length >= 2, $"expected at least 2 progress lines, got: {result.Stdout}");
        Assert.All(progress, p => Assert.Equal("intermediary", p.GetProperty("type").GetString()));
        var seconds = progress.Select(p => p.GetProperty("seconds").GetDouble()).ToArray();
        var downloaded = progress.Select(p => p.GetProperty("download_bytes").GetInt64()).ToArray();
        Assert.Equal(seconds.Order(), seconds);
        Assert.Equal(downloaded.Order(), downloaded);
        Assert.All(progress, p => Assert.True(p.GetProperty("gbit_s").GetDouble() >= 0));

        var final = lines[^1];
        Assert.False(final.TryGetProperty("type", out _), "the result line keeps its shape (no type field)");
        Assert.Equal(download, final.GetProperty("download_bytes").GetInt64());
        Assert.Equal(1000, final.GetProperty("upload_bytes").GetInt64());
    }

    private static JsonElement Single(ProcessRunResult result) => Assert.Single(result.JsonLines);
}
