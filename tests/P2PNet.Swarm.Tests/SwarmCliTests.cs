using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using P2PNet.Testing.Interop;
using P2PNet.Testing.Processes;
using Xunit.Abstractions;

namespace P2PNet.Swarm.Tests;

/// <summary>
/// The README's private-swarm walk-through, run with the real <c>p2pnet</c> processes: keys, <c>swarm init</c>,
/// enrolment through <c>serve --public</c>, <c>join</c>, an unauthorised join refused, the owner restarted inside the
/// swarm with an enrolment address, live <c>rotate</c>/<c>authorize</c>/<c>status</c> through its control socket,
/// then <c>revoke</c> and <c>leave</c> on the databases.
/// </summary>
public sealed class SwarmCliTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);
    private readonly string _directory = Directory.CreateTempSubdirectory("p2pnet-swarm-cli-").FullName;

    [Fact]
    public async Task WalkThrough_EnrolJoinRefuseRotateRevokeLeave()
    {
        string ownerKey = Path.Combine(_directory, "owner.key"), aliceKey = Path.Combine(_directory, "alice.key"), bobKey = Path.Combine(_directory, "bob.key");
        string ownerDb = Path.Combine(_directory, "owner.db"), aliceDb = Path.Combine(_directory, "alice.db"), bobDb = Path.Combine(_directory, "bob.db");
        string owner = await NewKeyAsync(ownerKey);
        string alice = await NewKeyAsync(aliceKey);
        string bob = await NewKeyAsync(bobKey);
        int port = FreeTcpPort();
        string secondKey;
        string ownerAddress = $"/ip4/127.0.0.1/tcp/{port}/p2p/{owner}";

        var init = Json(await RunAsync("swarm", "init", "--db", ownerDb, "--key", ownerKey, "--id", "lab", "--authorize", alice, "--bootstrap", ownerAddress));
        Assert.Equal("lab", init.GetProperty("swarm_id").GetString());
        Assert.Equal("owner", init.GetProperty("role").GetString());
        Assert.False(init.GetProperty("private").GetBoolean());
        Assert.Equal([alice], Strings(init, "members"));
        string firstKey = init.GetProperty("key_fingerprint").GetString()!;
        Assert.Matches("^[0-9a-f]{16,}$", firstKey);

        // Enrolment: the owner stays public so alice, who has no key yet, can reach the exchange.
        string[] serve = ["swarm", "serve", "--db", ownerDb, "--key", ownerKey, "--listen", $"/ip4/127.0.0.1/tcp/{port}"];
        await using (var enrolment = await StartAsync([.. serve, "--public"]))
        {
            Assert.Contains(enrolment.ListenAddresses, a => a.StartsWith($"/ip4/127.0.0.1/tcp/{port}", StringComparison.Ordinal));

            var refusal = await RunAsync(expectSuccess: false, "swarm", "join", "--db", bobDb, "--key", bobKey, "--swarm", "lab", "--owner", ownerAddress);
            Assert.NotEqual(0, refusal.ExitCode);
            Assert.Contains("error:", refusal.Stderr, StringComparison.Ordinal);
            Assert.Contains("authori", refusal.Stderr, StringComparison.OrdinalIgnoreCase);
            await enrolment.WaitForLineAsync(l => l.Contains("SwarmKeyRequestRefused", StringComparison.Ordinal) && l.Contains(bob, StringComparison.Ordinal), Step);

            await using var aliceJoin = await StartAsync(["swarm", "join", "--db", aliceDb, "--key", aliceKey, "--swarm", "lab", "--owner", ownerAddress, "--listen", "/ip4/127.0.0.1/tcp/0"]);
            var aliceStatus = JsonDocument.Parse(await aliceJoin.WaitForLineAsync(l => l.Contains("\"swarm_id\"", StringComparison.Ordinal), Step)).RootElement;
            Assert.Equal("member", aliceStatus.GetProperty("role").GetString());
            Assert.True(aliceStatus.GetProperty("private").GetBoolean());
            Assert.Equal(firstKey, aliceStatus.GetProperty("key_fingerprint").GetString());
            Assert.Equal(owner, aliceStatus.GetProperty("owner").GetString());
            await enrolment.WaitForLineAsync(l => l.Contains("SwarmKeyShared", StringComparison.Ordinal) && l.Contains(alice, StringComparison.Ordinal), Step);
        }

        var aliceDbStatus = Json(await RunAsync("swarm", "status", "--db", aliceDb, "--key", aliceKey));
        Assert.Equal(firstKey, aliceDbStatus.GetProperty("key_fingerprint").GetString());
        if (File.Exists(bobDb))
        {
            // The refused join may have recorded bob's membership, never a key.
            var bobStatus = Json(await RunAsync("swarm", "status", "--db", bobDb, "--key", bobKey));
            Assert.Equal(JsonValueKind.Null, bobStatus.GetProperty("key_fingerprint").ValueKind);
        }

        // The owner inside the swarm: alice, restarted from her --db alone, joins it through the bootstrap address.
        await using (var privateOwner = await StartAsync([.. serve, "--enrol", "/ip4/127.0.0.1/tcp/0"]))
        {
            string enrolAddress = (await privateOwner.WaitForLineAsync(l => l.StartsWith("ENROL ", StringComparison.Ordinal), Step))["ENROL ".Length..].Trim();
            Assert.NotEqual(ownerAddress, enrolAddress);
            var ownerStatus = JsonDocument.Parse(await privateOwner.WaitForLineAsync(l => l.Contains("\"swarm_id\"", StringComparison.Ordinal), Step)).RootElement;
            Assert.True(ownerStatus.GetProperty("private").GetBoolean());
            await using var aliceAgain = await StartAsync(["swarm", "join", "--db", aliceDb, "--key", aliceKey, "--listen", "/ip4/127.0.0.1/tcp/0"]);
            var joined = await aliceAgain.WaitForLineAsync(l => l.Contains("SwarmJoined", StringComparison.Ordinal), Step);
            output.WriteLine(joined);
            Assert.Contains("BootstrapConnected = 1", joined, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(ownerDb + ".ctl", "socket")), "serve opens its control socket");

            // rotate through the running owner: alice is told at once, fetches the new key over the exchange and switches.
            var rotated = Json(await RunAsync("swarm", "rotate", "--db", ownerDb, "--key", ownerKey));
            secondKey = rotated.GetProperty("key_fingerprint").GetString()!;
            Assert.NotEqual(firstKey, secondKey);
            Assert.True(rotated.GetProperty("private").GetBoolean(), "the reply comes from the live owner");
            Assert.Equal([firstKey], Strings(rotated, "accepted_key_fingerprints")); // the previous key, for the grace period
            await privateOwner.WaitForLineAsync(l => l.Contains("SwarmKeyRotated", StringComparison.Ordinal), Step);
            await aliceAgain.WaitForLineAsync(l => l.Contains("SwarmKeyRotated", StringComparison.Ordinal) && l.Contains("NewKeyFingerprint = " + secondKey, StringComparison.Ordinal), Step);

            var live = Json(await RunAsync("swarm", "status", "--db", ownerDb, "--key", ownerKey));
            Assert.Equal([alice], Strings(live, "connected"));

            // bob, authorised now through the live owner, enrols on the public enrolment address and joins the swarm.
            var authorized = Json(await RunAsync("swarm", "authorize", "--db", ownerDb, "--key", ownerKey, bob));
            Assert.Equal(new[] { alice, bob }.Order(StringComparer.Ordinal), Strings(authorized, "members").Order(StringComparer.Ordinal));
            await using var bobJoin = await StartAsync(["swarm", "join", "--db", bobDb, "--key", bobKey, "--swarm", "lab", "--owner", enrolAddress, "--listen", "/ip4/127.0.0.1/tcp/0"]);
            var bobJoined = await bobJoin.WaitForLineAsync(l => l.Contains("SwarmJoined", StringComparison.Ordinal), Step);
            Assert.Contains($"KeyFingerprint = {secondKey}, BootstrapConnected = 1", bobJoined, StringComparison.Ordinal);

            var unknown = await RunAsync(expectSuccess: false, "swarm", "revoke", "--db", ownerDb, "--key", ownerKey, owner);
            Assert.Contains("error: ", unknown.Stderr, StringComparison.Ordinal); // the owner cannot revoke itself; serve keeps running
            Assert.False(privateOwner.HasExited);
        }
        Assert.False(File.Exists(Path.Combine(ownerDb + ".ctl", "socket")), "serve removes its control socket on exit");
        var revoked = Json(await RunAsync("swarm", "revoke", "--db", ownerDb, "--key", ownerKey, alice));
        Assert.Equal([bob], Strings(revoked, "members"));
        Assert.DoesNotContain(revoked.GetProperty("key_fingerprint").GetString(), new[] { firstKey, secondKey });

        var left = Json(await RunAsync("swarm", "leave", "--db", aliceDb, "--key", aliceKey));
        Assert.False(left.GetProperty("private").GetBoolean());
        Assert.Equal(JsonValueKind.Null, left.GetProperty("key_fingerprint").ValueKind);

        var bad = await RunAsync(expectSuccess: false, "swarm", "revoke", "--db", ownerDb, "--key", ownerKey, "not-a-peer-id");
        Assert.Equal("error: 'not-a-peer-id' is not a peer id.", bad.Stderr.Trim().Split('\n')[^1]);
    }

    private async Task<string> NewKeyAsync(string path) => (await RunAsync("key", "new", "--out", path)).StdoutLines.Single().Trim();

    private Task<ProcessRunResult> RunAsync(params string[] args) => RunAsync(expectSuccess: true, args);

    private async Task<ProcessRunResult> RunAsync(bool expectSuccess, params string[] args)
    {
        var result = await P2PNetCli.RunAsync(args, Step).WaitAsync(Step);
        output.WriteLine($"$ {result.CommandLine} → {result.ExitCode}\n{result.Stdout}\n{result.Stderr}");
        return expectSuccess ? result.EnsureSuccess() : result;
    }

    private async Task<ChildProcess> StartAsync(string[] args)
    {
        var process = await P2PNetCli.StartAsync(args, Step).WaitAsync(Step);
        output.WriteLine($"started {process.CommandLine}: {string.Join(' ', process.ListenAddresses)}");
        return process;
    }

    private static JsonElement Json(ProcessRunResult result) => result.JsonLines[^1];

    private static string[] Strings(JsonElement status, string property) =>
        [.. status.GetProperty(property).EnumerateArray().Select(e => e.GetString()!)];

    private static int FreeTcpPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
