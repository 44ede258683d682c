using System.Security.Cryptography;
using P2PNet.Testing.Interop;
using SimpleBase;

namespace P2PNet.Core.Tests.Dht;

/// <summary>The CLI contract of issue #20 for the DHT, as separate processes: <c>dht provide</c> on one,
/// <c>dht find-providers</c> and <c>dht find-peer</c> from others, all through a <c>node --dht server</c> bootstrap
/// node; and the exit codes scripts rely on.</summary>
public sealed class DhtCliTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Run = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task AProvideOnOneProcess_IsFoundByAnother_ThroughABootstrapNode()
    {
        await using var bootstrap = P2PNetCli.StartProcess(["node", "--dht", "server"]);
        string bootstrapAddress = await ListenAddressAsync(bootstrap);
        byte[] multihash = [0x12, 0x20, .. RandomNumberGenerator.GetBytes(32)];
        string cidV1 = CidV1(multihash);

        await using var provider = P2PNetCli.StartProcess(["dht", "provide", "--bootstrap", bootstrapAddress, cidV1]);
        string providerAddress = await ListenAddressAsync(provider);
        string providerId = providerAddress[(providerAddress.LastIndexOf('/') + 1)..];
        string providerBare = providerAddress[..providerAddress.LastIndexOf("/p2p/", StringComparison.Ordinal)];
        Assert.Equal($"PROVIDING {cidV1}", await provider.WaitForLineAsync(l => l.StartsWith("PROVIDING ", StringComparison.Ordinal), Step).WaitAsync(Step));

        // The DHT key is the multihash: the CIDv0 of the same content finds the same provider.
        foreach (string cid in new[] { cidV1, Base58.Bitcoin.Encode(multihash) })
        {
            var found = (await P2PNetCli.RunAsync(["dht", "find-providers", "--bootstrap", bootstrapAddress, "--timeout", "60", cid], Run).WaitAsync(Run)).EnsureSuccess();
            Assert.Equal($"PROVIDER {providerId} {providerBare}", Assert.Single(found.StdoutLines));
        }
        var peer = (await P2PNetCli.RunAsync(["dht", "find-peer", "--bootstrap", bootstrapAddress, "--timeout", "60", providerId], Run).WaitAsync(Run)).EnsureSuccess();
        Assert.Equal($"PEER {providerId} {providerBare}", Assert.Single(peer.StdoutLines));
    }

    [Fact]
    public async Task BadInput_Unreachable_NotADhtServer_AndNothingFound_ExitWithTheirCodes()
    {
        await using var server = P2PNetCli.StartProcess(["node", "--dht", "server"]);
        string serverAddress = await ListenAddressAsync(server);
        await using var client = P2PNetCli.StartProcess(["node", "--dht", "client"]);
        string clientAddress = await ListenAddressAsync(client);
        string serverId = serverAddress[(serverAddress.LastIndexOf('/') + 1)..];
        string unknownCid = CidV1([0x12, 0x20, .. RandomNumberGenerator.GetBytes(32)]);
        string unknownPeer = "12D3KooWEgE4uYkDqiV1YYHRr9DtDTwyVboRvDmnE5RrUNx7f6sA";

        async Task ExpectAsync(int exitCode, string stderr, params string[] args)
        {
            var result = await P2PNetCli.RunAsync(["dht", .. args, "--timeout", "60"], Run).WaitAsync(Run);
            Assert.True(result.ExitCode == exitCode, $"{result.CommandLine}: exit {result.ExitCode}, expected {exitCode}; stderr: {result.Stderr}");
            Assert.Contains(stderr, result.Stderr, StringComparison.Ordinal);
            Assert.Empty(result.StdoutLines);
        }

        await ExpectAsync(2, "bad cid", "find-providers", "--bootstrap", serverAddress, "bafy-not-a-cid");
        await ExpectAsync(2, "bad peer id", "find-peer", "--bootstrap", serverAddress, "12D3KooWnope");
        await ExpectAsync(2, "must end in /p2p/", "find-peer", "--bootstrap", "/ip4/127.0.0.1/tcp/1", unknownPeer);
        await ExpectAsync(3, "error:", "find-providers", "--bootstrap", $"/ip4/127.0.0.1/tcp/1/p2p/{serverId}", unknownCid);
        await ExpectAsync(5, "no --bootstrap peer serves the DHT", "find-providers", "--bootstrap", clientAddress, unknownCid);
        await ExpectAsync(6, "no provider of", "find-providers", "--bootstrap", serverAddress, unknownCid);
        await ExpectAsync(6, "no address of", "find-peer", "--bootstrap", serverAddress, unknownPeer);
    }

    private static async Task<string> ListenAddressAsync(Testing.Processes.ChildProcess process) =>
        (await process.WaitForLineAsync(l => l.StartsWith("LISTEN ", StringComparison.Ordinal), Step).WaitAsync(Step))["LISTEN ".Length..];

    /// <summary>A CIDv1 (raw codec) of <paramref name="multihash"/> in base32, as <c>ipfs add --cid-version 1</c> prints.</summary>
    private static string CidV1(byte[] multihash) =>
        "b" + Base32.Rfc4648.Encode([0x01, 0x55, .. multihash], padding: false).ToLowerInvariant();
}
