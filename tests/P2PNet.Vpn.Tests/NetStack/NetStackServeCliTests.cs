using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using P2PNet.Testing.Interop;
using P2PNet.Testing.Networking;

namespace P2PNet.Vpn.Tests.NetStack;

/// <summary><c>p2pnet netstack serve</c> in a <c>netstack-</c> namespace, driven by the kernel's own tools (curl) and sockets.</summary>
[Collection(KernelTestGroup.Name)]
public class NetStackServeCliTests
{
    [Fact]
    public async Task Serve_PrintsItsUpLine_AndServesHttpBytesSha256EchoAndDiscard_ToTheKernel()
    {
        await KernelTestRequirements.CheckAsync();
        string dir = Directory.CreateTempSubdirectory("p2pnet-netstack-").FullName;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await using var lab = await NamespaceLab.CreateAsync("netstack", cts.Token);
        string ns = lab.Hub; // a bare namespace is all this test needs
        try
        {
            var serve = lab.Start(ns, ["dotnet", P2PNetCli.Assembly, "netstack", "serve", "--tun", "nstun9",
                "--kernel-address", "10.77.0.1/24", "--address", "10.77.0.2", "--echo", "7", "--discard", "9", "--http", "80"]);
            Assert.Equal("NETSTACK UP 10.77.0.2 dev nstun9", await serve.WaitForLineAsync("NETSTACK UP", cts.Token));

            // GET /bytes/N: the fixed sequence byte[i] = (i * 2654435761 mod 2^32) >> 24.
            const int count = 3_000_000;
            var expected = new byte[count];
            for (int i = 0; i < count; i++)
            {
                expected[i] = (byte)((uint)(i * 2654435761L) >> 24);
            }
            string got = await lab.ExecAsync(ns, cts.Token, "sh", "-c", $"curl -sf http://10.77.0.2/bytes/{count} | sha256sum");
            Assert.StartsWith(Convert.ToHexStringLower(SHA256.HashData(expected)), got, StringComparison.Ordinal);

            // POST /sha256: the hex digest of the body.
            string file = Path.Combine(dir, "body.bin");
            byte[] body = RandomNumberGenerator.GetBytes(2_000_000);
            await File.WriteAllBytesAsync(file, body, cts.Token);
            string digest = await lab.ExecAsync(ns, cts.Token, "curl", "-sf", "-H", "Expect:", "--data-binary", "@" + file, "http://10.77.0.2/sha256");
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(body)), digest.Trim());

            // Echo and discard, from kernel sockets.
            using (var echo = NamespaceLab.CreateSocket(ns))
            {
                await echo.ConnectAsync(new IPEndPoint(IPAddress.Parse("10.77.0.2"), 7), cts.Token);
                await echo.SendAsync("echo me"u8.ToArray(), SocketFlags.None, cts.Token);
                echo.Shutdown(SocketShutdown.Send);
                Assert.Equal("echo me", Encoding.ASCII.GetString(await NetStackKernelTests.ReadToEndAsync(echo, cts.Token)));
            }
            using (var discard = NamespaceLab.CreateSocket(ns))
            {
                await discard.ConnectAsync(new IPEndPoint(IPAddress.Parse("10.77.0.2"), 9), cts.Token);
                await discard.SendAsync(new byte[100_000], SocketFlags.None, cts.Token);
                discard.Shutdown(SocketShutdown.Send);
                Assert.Empty(await NetStackKernelTests.ReadToEndAsync(discard, cts.Token));
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
