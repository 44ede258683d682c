using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text.RegularExpressions;
using P2PNet.Testing.Interop;
using P2PNet.Testing.Processes;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>`p2pnet bridge ws-udp`, run as a real process.</summary>
public sealed partial class BridgeCliTests
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("TERM")]
    [InlineData("INT")]
    public async Task BridgeWsUdp_PrintsItsUrl_Relays_AndOnSignalClosesClientsAndExitsZero(string signal)
    {
        await using ChildProcess cli = StartCli("bridge", "ws-udp", "--listen", "127.0.0.1:0", "--allow", "127.0.0.0/8");
        Uri url = await ReadBridgeUrlAsync(cli);
        Assert.Equal("127.0.0.1", url.Host);
        Assert.NotEqual(0, url.Port);
        Assert.Equal("/udp", url.AbsolutePath);

        await using var echo = new UdpEchoServer(IPAddress.Loopback);
        await using BridgeClient client = await BridgeClient.ConnectAsync(url);
        await client.SendAsync(echo.EndPoint, "via the cli"u8);
        Assert.Equal("via the cli"u8.ToArray(), (await client.ReceiveAsync()).Payload);

        Task<(WebSocketCloseStatus? Status, string? Description)> close = client.ReceiveCloseAsync();
        await SignalAsync(cli, signal);

        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, (await close).Status);
        Assert.Equal(0, await cli.WaitForExitAsync(BridgeClient.Timeout));
    }

    [Fact]
    public async Task BridgeWsUdp_WithToken_RefusesClientsWithoutIt()
    {
        await using ChildProcess cli = StartCli("bridge", "ws-udp", "--listen", "127.0.0.1:0", "--path", "/b", "--token", "t0ken");
        Uri url = await ReadBridgeUrlAsync(cli);
        Assert.Equal("/b", url.AbsolutePath);

        using var refused = new ClientWebSocket();
        await Assert.ThrowsAsync<WebSocketException>(() => refused.ConnectAsync(url, CancellationToken.None).WaitAsync(BridgeClient.Timeout));
        await using BridgeClient accepted = await BridgeClient.ConnectAsync(new Uri(url + "?access_token=t0ken"));
        Assert.NotEqual(0, accepted.Announced.Port);
        await using BridgeClient byProtocol = await BridgeClient.ConnectAsync(url, o =>
        {
            o.AddSubProtocol("p2pnet.udp");
            o.AddSubProtocol("p2pnet.token.t0ken");
        });
        Assert.Equal("p2pnet.udp", byProtocol.WebSocket.SubProtocol);
    }

    [Fact]
    public async Task BridgeWsUdp_WithMaxClientsPerAddress_TurnsTheNextClientOfTheAddressAway()
    {
        await using ChildProcess cli = StartCli("bridge", "ws-udp", "--listen", "127.0.0.1:0", "--max-clients-per-address", "1");
        Uri url = await ReadBridgeUrlAsync(cli);
        await using BridgeClient first = await BridgeClient.ConnectAsync(url);

        using var second = new ClientWebSocket();
        await second.ConnectAsync(url, CancellationToken.None).WaitAsync(BridgeClient.Timeout);
        ValueWebSocketReceiveResult result = await second.ReceiveAsync(new byte[256].AsMemory(), CancellationToken.None)
            .AsTask().WaitAsync(BridgeClient.Timeout);

        Assert.Equal(WebSocketMessageType.Close, result.MessageType);
        Assert.Equal(1013, (int)second.CloseStatus!.Value);
        Assert.Contains("too many clients from your address", second.CloseStatusDescription, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BridgeWsUdp_WithABadCidr_ExitsWithUsageError()
    {
        await using ChildProcess cli = StartCli("bridge", "ws-udp", "--listen", "127.0.0.1:0", "--allow", "not-a-network");
        Assert.Equal(2, await cli.WaitForExitAsync(StartTimeout));
        string stderr = cli.Stderr;
        Assert.Contains("--allow: 'not-a-network'", stderr, StringComparison.Ordinal);
    }

    private static ChildProcess StartCli(params string[] args) => ChildProcess.Start("dotnet", [P2PNetCli.Assembly, .. args]);

    /// <summary>Waits for the CLI's BRIDGE line and returns its URL.</summary>
    private static async Task<Uri> ReadBridgeUrlAsync(ChildProcess cli)
    {
        string line = await cli.WaitForLineAsync(l => BridgeLine().IsMatch(l), StartTimeout);
        return new Uri(BridgeLine().Match(line).Groups[1].Value);
    }

    private static async Task SignalAsync(ChildProcess process, string signal)
    {
        using Process kill = Process.Start("kill", ["-" + signal, process.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync().WaitAsync(BridgeClient.Timeout);
        Assert.Equal(0, kill.ExitCode);
    }

    [GeneratedRegex(@"^BRIDGE (ws://\S+)$")]
    private static partial Regex BridgeLine();
}
