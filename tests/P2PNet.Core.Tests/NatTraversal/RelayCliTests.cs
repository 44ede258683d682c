using P2PNet.Testing.Interop;

namespace P2PNet.Core.Tests.NatTraversal;

/// <summary>The CLI contract of issue #15 for the relay: <c>node --relay-service</c>, <c>node --relay MA</c> printing
/// <c>RESERVED &lt;circuit multiaddr&gt;</c>, and <c>ping</c>/<c>echo</c> through that circuit address.</summary>
public sealed class RelayCliTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Run = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task NodeWithRelay_PrintsReservedCircuitAddress_ThatPingAndEchoReach()
    {
        await using var relay = P2PNetCli.StartProcess(["node", "--relay-service", "--relay-data-limit", "0"]);
        string relayAddress = (await relay.WaitForLineAsync(l => l.StartsWith("LISTEN ", StringComparison.Ordinal), Step).WaitAsync(Step))["LISTEN ".Length..];

        await using var listener = P2PNetCli.StartProcess(["node", "--relay", relayAddress]);
        string listenLine = await listener.WaitForLineAsync(l => l.StartsWith("LISTEN ", StringComparison.Ordinal), Step).WaitAsync(Step);
        string listenerId = listenLine[(listenLine.LastIndexOf('/') + 1)..];
        string reserved = await listener.WaitForLineAsync(l => l.StartsWith("RESERVED ", StringComparison.Ordinal), Step).WaitAsync(Step);
        string circuit = reserved["RESERVED ".Length..];
        Assert.Equal($"{relayAddress}/p2p-circuit/p2p/{listenerId}", circuit);

        var ping = (await P2PNetCli.RunAsync(["ping", circuit, "--count", "2", "--timeout", "60"], Run).WaitAsync(Run)).EnsureSuccess();
        Assert.Equal(2, ping.StdoutLines.Count(l => l.Contains("rtt_ms", StringComparison.Ordinal)));
        var echo = (await P2PNetCli.RunAsync(["echo", circuit, "--bytes", "1048576", "--timeout", "60"], Run).WaitAsync(Run)).EnsureSuccess();
        Assert.Contains("\"ok\":true", Assert.Single(echo.StdoutLines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PingThroughARelay_ToAPeerWithoutReservation_ExitsRefused()
    {
        await using var relay = P2PNetCli.StartProcess(["node", "--relay-service"]);
        string relayAddress = (await relay.WaitForLineAsync(l => l.StartsWith("LISTEN ", StringComparison.Ordinal), Step).WaitAsync(Step))["LISTEN ".Length..];
        string nobody = "12D3KooWEgE4uYkDqiV1YYHRr9DtDTwyVboRvDmnE5RrUNx7f6sA";
        var ping = await P2PNetCli.RunAsync(["ping", $"{relayAddress}/p2p-circuit/p2p/{nobody}", "--timeout", "60"], Run).WaitAsync(Run);
        Assert.Equal(4, ping.ExitCode); // ExitCodes.Refused: the peer's (here the relay's) answer
        Assert.Contains("NoReservation", ping.Stderr, StringComparison.Ordinal);
    }
}
