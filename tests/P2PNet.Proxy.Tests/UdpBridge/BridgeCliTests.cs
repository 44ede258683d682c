using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text.RegularExpressions;

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
        using Process cli = StartCli("bridge", "ws-udp", "--listen", "127.0.0.1:0", "--allow", "127.0.0.0/8");
        try
        {
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
            await cli.WaitForExitAsync().WaitAsync(BridgeClient.Timeout);
            Assert.Equal(0, cli.ExitCode);
        }
        finally
        {
            StopIfRunning(cli);
        }
    }

    [Fact]
    public async Task BridgeWsUdp_WithToken_RefusesClientsWithoutIt()
    {
        using Process cli = StartCli("bridge", "ws-udp", "--listen", "127.0.0.1:0", "--path", "/b", "--token", "t0ken");
        try
        {
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
        finally
        {
            StopIfRunning(cli);
        }
    }

    [Fact]
    public async Task BridgeWsUdp_WithMaxClientsPerAddress_TurnsTheNextClientOfTheAddressAway()
    {
        using Process cli = StartCli("bridge", "ws-udp", "--listen", "127.0.0.1:0", "--max-clients-per-address", "1");
        try
        {
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
        finally
        {
            StopIfRunning(cli);
        }
    }

    [Fact]
    public async Task BridgeWsUdp_WithABadCidr_ExitsWithUsageError()
    {
        using Process cli = StartCli("bridge", "ws-udp", "--listen", "127.0.0.1:0", "--allow", "not-a-network");
        try
        {
            Task<string> readStderr = Task.Run(() => cli.StandardError.ReadToEnd());
            await cli.WaitForExitAsync().WaitAsync(StartTimeout);
            string stderr = await readStderr.WaitAsync(StartTimeout);

            Assert.Equal(2, cli.ExitCode);
            Assert.Contains("--allow: 'not-a-network'", stderr, StringComparison.Ordinal);
        }
        finally
        {
            StopIfRunning(cli);
        }
    }

    private static Process StartCli(params string[] args)
    {
        Assert.True(File.Exists(RepositoryPaths.CliDll), $"The CLI is not built at {RepositoryPaths.CliDll}.");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(RepositoryPaths.CliDll);
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        return Process.Start(start)!;
    }

    /// <summary>Reads the CLI's output through events (never a blocking read) until the BRIDGE line.</summary>
    private static async Task<Uri> ReadBridgeUrlAsync(Process cli)
    {
        var url = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var stderr = new System.Text.StringBuilder();
        cli.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                url.TrySetException(new InvalidOperationException("The CLI ended without printing BRIDGE: " + stderr));
            }
            else if (BridgeLine().Match(e.Data) is { Success: true } match)
            {
                url.TrySetResult(new Uri(match.Groups[1].Value));
            }
        };
        cli.ErrorDataReceived += (_, e) =>
        {
            lock (stderr)
            {
                stderr.AppendLine(e.Data);
            }
        };
        cli.BeginOutputReadLine();
        cli.BeginErrorReadLine();
        return await url.Task.WaitAsync(StartTimeout);
    }

    private static async Task SignalAsync(Process process, string signal)
    {
        using Process kill = Process.Start("kill", ["-" + signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync().WaitAsync(BridgeClient.Timeout);
        Assert.Equal(0, kill.ExitCode);
    }

    private static void StopIfRunning(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill();
        }
    }

    [GeneratedRegex(@"^BRIDGE (ws://\S+)$")]
    private static partial Regex BridgeLine();
}
