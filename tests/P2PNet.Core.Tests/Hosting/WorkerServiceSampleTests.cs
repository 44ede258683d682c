using System.Net;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Ping;
using P2PNet.Testing.Interop;
using P2PNet.Testing.Processes;

namespace P2PNet.Core.Tests.Hosting;

/// <summary>samples/WorkerService as a real process: configured from its appsettings.json, dialed and pinged, stopped.</summary>
public sealed class WorkerServiceSampleTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly string _directory = Directory.CreateTempSubdirectory("p2pnet-worker-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task WorkerService_StartedFromItsAppSettings_ListensAnswersPingsAndHealthAndStopsCleanly()
    {
        string identityFile = Path.Combine(_directory, "identity.key");
        ChildProcess worker = await WorkerServiceSample.StartAsync(
        [
            // Only what a test must change: free ports and a private key file; everything else is the sample's appsettings.json.
            "--P2PNet:IdentityKeyFile", identityFile,
            "--P2PNet:ListenAddresses:0", "/ip4/127.0.0.1/tcp/0",
            "--P2PNet:ListenAddresses:1", "/ip4/127.0.0.1/tcp/0/ws",
            "--Urls", "http://127.0.0.1:0",
        ], Timeout);
        try
        {
            Assert.Equal(PrivateKey.ReadFile(identityFile).PublicKey.ToPeerId().ToString(), worker.PeerId);
            Assert.Contains(worker.ListenAddresses, a => a.Contains("/ws/p2p/", StringComparison.Ordinal));

            await using var client = new P2PHost();
            await client.StartAsync().AsTask().WaitAsync(Timeout);
            var connection = await client.DialAsync(Multiaddr.Parse(worker.ListenAddress("/tcp/"))).AsTask().WaitAsync(Timeout);
            using var cts = new CancellationTokenSource(Timeout);
            await foreach (var rtt in PingProtocol.PingAsync(connection, 3, cts.Token))
            {
                Assert.True(rtt > TimeSpan.Zero);
            }

            // The OpenTelemetry console exporter prints the worker's side of the handshake.
            await worker.WaitForLineAsync(l => l.Contains("p2pnet.security.handshake", StringComparison.Ordinal), Timeout);

            string health = await worker.WaitForLineAsync(l => l.StartsWith("HEALTH ", StringComparison.Ordinal), Timeout);
            using var http = new HttpClient { Timeout = Timeout };
            using var response = await http.GetAsync(new Uri(health["HEALTH ".Length..].Trim()), cts.Token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("Healthy", await response.Content.ReadAsStringAsync(cts.Token));
        }
        finally
        {
            await worker.DisposeAsync(); // SIGTERM, as Ctrl+C
        }
        Assert.True(worker.ExitCode == 0, worker.Diagnostics());
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(identityFile));
        }
    }
}
