using System.Diagnostics;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.FileProviders;
using P2PNet.Proxy.UdpBridge;
using P2PNet.Testing;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>
/// The sample page and the browser module in real headless Chromium (Debian's /usr/bin/chromium, driven by
/// playwright-core from tests/P2PNet.Proxy.Tests/browser, installed there by test.sh's npm ci).
/// </summary>
public sealed class BrowserEndToEndTests
{
    private static readonly string BrowserTestDirectory = Path.Combine(RepositoryRoot.Path, "tests", "P2PNet.Proxy.Tests", "browser");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SamplePage_InHeadlessChromium_SendsAndReceivesDatagramsThroughTheBridge(bool standaloneBridge)
    {
        Assert.True(File.Exists("/usr/bin/chromium"), "Chromium is missing: apt-get install chromium (test.sh does this).");
        Assert.True(Directory.Exists(Path.Combine(BrowserTestDirectory, "node_modules", "playwright-core")),
            $"playwright-core is missing: run `npm ci` in {BrowserTestDirectory} (test.sh does this).");

        // One Kestrel app serves the sample's static files and (in-app mode) the bridge, as a real deployment might;
        // in standalone mode the page talks to a separate UdpBridgeServer, the `p2pnet bridge ws-udp` path.
        Action<UdpBridgeOptions> configure = o =>
        {
            o.AllowedNetworks.Add(IPNetwork.Parse("127.0.0.0/8"));
            o.AllowedNetworks.Add(IPNetwork.Parse("::1/128"));
            o.MaxDatagramsPerSecond = 0;
        };
        await using var standalone = new UdpBridgeServer(new IPEndPoint(IPAddress.Loopback, 0), configure);
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddUdpBridge(configure);
        await using WebApplication app = builder.Build();
        var files = new PhysicalFileProvider(Path.Combine(RepositoryRoot.Path, "samples", "UdpBridgeBrowser"));
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files });
        app.UseStaticFiles(new StaticFileOptions { FileProvider = files });
        app.MapUdpBridge("/udp");
        await app.StartAsync().WaitAsync(BridgeClient.Timeout);
        int port = new Uri(app.Urls.First()).Port;
        string bridgeUrl = $"ws://127.0.0.1:{port}/udp";
        if (standaloneBridge)
        {
            await standalone.StartAsync().WaitAsync(BridgeClient.Timeout);
            bridgeUrl = standalone.Url.ToString();
        }

        await using var echo = new UdpEchoServer(IPAddress.Loopback);
        await using var echo6 = new UdpEchoServer(IPAddress.IPv6Loopback);

        (int exitCode, string output) = await RunNodeAsync(
            "e2e.mjs", $"http://127.0.0.1:{port}/index.html", bridgeUrl,
            echo.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            echo6.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));

        Assert.True(exitCode == 0, $"e2e.mjs exited {exitCode}:\n{output}");
        Assert.Contains("OK sample page", output, StringComparison.Ordinal);
        Assert.Contains("OK module API: 200/200", output, StringComparison.Ordinal);
        Assert.Contains("OK IPv6", output, StringComparison.Ordinal);
        Assert.Contains("OK malformed frame: closed 1007", output, StringComparison.Ordinal);
        Assert.Contains("E2E PASS", output, StringComparison.Ordinal);
        Assert.True(echo.Received >= 201, $"The echo server saw {echo.Received} datagrams.");
        Assert.Equal(1, echo6.Received);
        await app.StopAsync().WaitAsync(BridgeClient.Timeout);
    }

    private static async Task<(int ExitCode, string Output)> RunNodeAsync(params string[] args)
    {
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = BrowserTestDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        var output = new StringBuilder();
        using var node = new Process { StartInfo = start };
        node.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        node.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        node.Start();
        node.BeginOutputReadLine();
        node.BeginErrorReadLine();
        try
        {
            await node.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        }
        catch (TimeoutException)
        {
            node.Kill(entireProcessTree: true);
            throw;
        }

        lock (output)
        {
            return (node.ExitCode, output.ToString());
        }
    }
}
