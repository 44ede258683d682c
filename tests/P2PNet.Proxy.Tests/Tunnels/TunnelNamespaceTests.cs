using System.Security.Cryptography;
using P2PNet.Testing.Interop;
using P2PNet.Testing.Processes;

namespace P2PNet.Proxy.Tests.Tunnels;

/// <summary>
/// The issue's CLI contract end to end, in namespaces: a device behind a masquerading router exposes a real OpenSSH
/// server, a real HTTP server and a real TLS server through `p2pnet tunnel serve` in the public namespace; a renter
/// namespace reaches them with ssh, curl (Host) and curl (SNI, certificate checked). Then a 256 MiB transfer, a server
/// restart the device survives, and a revocation that cuts it off.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class TunnelNamespaceTests : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);
    private readonly string _dir = Directory.CreateTempSubdirectory("p2pnet-tunnel-ns-").FullName;

    private string F(string name) => Path.Combine(_dir, name);

    private static string[] Cli(params string[] args) => ["dotnet", P2PNetCli.Assembly, .. args];

    [Fact]
    public async Task ExposedDevice_BehindNat_ServesSshHttpAndTls_SurvivesServerRestart_AndIsCutOffWhenRevoked()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        var ct = cts.Token;
        await using var lab = await TunnelTopology.CreateAsync(ct);

        // Behind NAT: the renter cannot reach the device's network at all.
        var direct = await lab.TryExecAsync(lab.Renter, ["curl", "-s", "-m", "2", $"http://{TunnelTopology.DeviceAddress}:8000/"], ct);
        Assert.NotEqual(0, direct.ExitCode);

        // The device's real services: sshd (own config, host key and authorized key), python's http.server, openssl s_server.
        await PrepareSshdAsync(ct);
        await File.WriteAllTextAsync(F("marker.txt"), "served by the device\n", ct);
        await RunAsync(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-keyout", F("tls.key"), "-out", F("tls.crt"), "-subj", "/CN=app.dev1.example.test",
            "-addext", "subjectAltName=DNS:app.dev1.example.test"], ct);
        await using var sshd = lab.Start(lab.Device, ["/usr/sbin/sshd", "-D", "-e", "-f", F("sshd_config")]);
        await using var http = lab.Start(lab.Device, ["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1", "--directory", _dir]);
        await using var tls = lab.Start(lab.Device, ["openssl", "s_server", "-accept", "127.0.0.1:8443", "-cert", F("tls.crt"), "-key", F("tls.key"), "-www", "-quiet"]);

        string token = (await lab.ExecAsync(lab.Server, Cli("tunnel", "token", "new", "--db", F("tunnels.db"), "--name", "dev1"), ct)).Stdout.Trim();
        Assert.Matches("^[A-Za-z0-9_-]{43}$", token);

        string[] serve = Cli("tunnel", "serve", "--key", F("server.key"), "--listen", $"/ip4/{TunnelTopology.ServerDeviceSideAddress}/tcp/4001",
            "--db", F("tunnels.db"), "--public-host", TunnelTopology.ServerPublicAddress, "--ports", "20000-20999",
            "--http", "0.0.0.0:8080", "--https", "0.0.0.0:8443", "--domain", "example.test");
        var server = lab.Start(lab.Server, serve);
        try
        {
            string serverLine = await server.WaitForLineAsync(l => l.StartsWith("TUNNEL SERVER ", StringComparison.Ordinal), Step, ct);
            string serverAddress = serverLine["TUNNEL SERVER ".Length..];
            Assert.Matches("^/ip4/10.201.2.2/tcp/4001/p2p/12D3KooW[1-9A-HJ-NP-Za-km-z]+$", serverAddress);

            await using var device = lab.Start(lab.Device, Cli("tunnel", "expose", "--key", F("dev.key"), "--server", serverAddress,
                "--token", token, "--tcp", "ssh=127.0.0.1:22", "--http", "web=127.0.0.1:8000", "--https", "app=127.0.0.1:8443"));
            string sshLine = await device.WaitForLineAsync(l => l.StartsWith("EXPOSED ssh ", StringComparison.Ordinal), Step);
            Assert.Equal("EXPOSED ssh tcp 10.201.3.1:20000", sshLine);
            Assert.Equal("EXPOSED web http web.dev1.example.test", await device.WaitForLineAsync(l => l.StartsWith("EXPOSED web ", StringComparison.Ordinal), Step));
            Assert.Equal("EXPOSED app https app.dev1.example.test", await device.WaitForLineAsync(l => l.StartsWith("EXPOSED app ", StringComparison.Ordinal), Step));

            await AssertSshRunsAsync(lab, ct);
            await AssertHttpAndTlsAsync(lab, ct);

            // 256 MiB through the tunnel (and sshd's pipe), hashed on the device.
            string big = F("big.bin");
            string expected = await WriteRandomFileAsync(big, 256 << 20, ct);
            var transfer = await lab.ExecAsync(lab.Renter, ["bash", "-c", $"{Ssh()} 'sha256sum' < {big}"], ct);
            Assert.StartsWith(expected, transfer.Stdout.Trim(), StringComparison.Ordinal);
            File.Delete(big);

            var status = await lab.ExecAsync(lab.Server, Cli("tunnel", "status", "--db", F("tunnels.db")), ct);
            Assert.Contains(status.Stdout.Split('\n'), l => l.StartsWith("dev1", StringComparison.Ordinal) && l.Contains("10.201.3.1:20000", StringComparison.Ordinal) && l.Contains("online", StringComparison.Ordinal));

            // Server restart: the device re-registers (printing its assignments again) and keeps port 20000.
            await server.DisposeAsync();
            server = lab.Start(lab.Server, serve);
            await server.WaitForLineAsync(l => l.StartsWith("TUNNEL SERVER ", StringComparison.Ordinal), Step, ct);
            // The second EXPOSED ssh line (the harness sees each line once, in order).
            int sshLines = 0;
            Assert.Equal("EXPOSED ssh tcp 10.201.3.1:20000", await device.WaitForLineAsync(l => l.StartsWith("EXPOSED ssh ", StringComparison.Ordinal) && ++sshLines == 2, Step * 2, ct));
            await AssertSshRunsAsync(lab, ct);

            // Revocation: the device is cut off and says why; the port is closed.
            var revoke = await lab.ExecAsync(lab.Server, Cli("tunnel", "token", "revoke", "--db", F("tunnels.db"), "--name", "dev1"), ct);
            Assert.Equal("REVOKED dev1", revoke.Stdout.Trim());
            Assert.Equal(4, await device.WaitForExitAsync(Step, ct));
            Assert.Contains("error: cut off by the tunnel server", device.Stderr, StringComparison.Ordinal);
            var refused = await lab.TryExecAsync(lab.Renter, ["bash", "-c", $"{Ssh()} true"], ct);
            Assert.NotEqual(0, refused.ExitCode);

            // And the revoked token cannot register again: one error line, non-zero exit.
            var again = await lab.TryExecAsync(lab.Device, Cli("tunnel", "expose", "--key", F("dev.key"), "--server", serverAddress, "--token", token,
                "--tcp", "ssh=127.0.0.1:22"), ct);
            Assert.Equal(4, again.ExitCode);
            Assert.Equal("error: bad token: the token is unknown or revoked", again.Stderr.Trim());
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    private string Ssh() =>
        $"ssh -p 20000 -i {F("client_key")} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=20 -o LogLevel=ERROR root@{TunnelTopology.ServerPublicAddress}";

    private async Task AssertSshRunsAsync(TunnelTopology lab, CancellationToken ct)
    {
        var ssh = await lab.ExecAsync(lab.Renter, ["bash", "-c", $"{Ssh()} 'echo tunnelled-$((6*7)); ip -4 -o addr show | grep -c 10.201.1.2'"], ct);
        Assert.Equal(["tunnelled-42", "1"], ssh.Stdout.Trim().Split('\n'));
    }

    private async Task AssertHttpAndTlsAsync(TunnelTopology lab, CancellationToken ct)
    {
        var web = await lab.ExecAsync(lab.Renter, ["curl", "-sS", "-m", "20", "-H", "Host: web.dev1.example.test", "http://10.201.3.1:8080/marker.txt"], ct);
        Assert.Equal(["served by the device"], web.StdoutLines); // the file is one line
        var unknown = await lab.ExecAsync(lab.Renter, ["curl", "-s", "-m", "20", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: nobody.dev1.example.test", "http://10.201.3.1:8080/"], ct);
        Assert.Equal("404", unknown.Stdout);
        // --cacert with the device's own self-signed certificate: curl verifies it end to end (name and chain).
        var secure = await lab.ExecAsync(lab.Renter, ["curl", "-sS", "-m", "20", "--cacert", F("tls.crt"), "--resolve", "app.dev1.example.test:8443:10.201.3.1",
            "https://app.dev1.example.test:8443/"], ct);
        Assert.Contains("s_server", secure.Stdout, StringComparison.Ordinal);
        var wrongName = await lab.TryExecAsync(lab.Renter, ["curl", "-sS", "-m", "20", "--cacert", F("tls.crt"), "--resolve", "ghost.dev1.example.test:8443:10.201.3.1",
            "https://ghost.dev1.example.test:8443/"], ct);
        Assert.NotEqual(0, wrongName.ExitCode);
    }

    private async Task PrepareSshdAsync(CancellationToken ct)
    {
        Directory.CreateDirectory("/run/sshd"); // sshd's privilege-separation directory.
        await RunAsync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", F("host_key")], ct);
        await RunAsync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", F("client_key")], ct);
        File.Copy(F("client_key.pub"), F("authorized_keys"));
        File.SetUnixFileMode(F("authorized_keys"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await File.WriteAllTextAsync(F("sshd_config"), $"""
            Port 22
            ListenAddress 127.0.0.1
            HostKey {F("host_key")}
            PidFile {F("sshd.pid")}
            AuthorizedKeysFile {F("authorized_keys")}
            PermitRootLogin prohibit-password
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            StrictModes no

            """, ct);
    }

    private static async Task<string> WriteRandomFileAsync(string path, int size, CancellationToken ct)
    {
        using var sha = SHA256.Create();
        await using var file = File.Create(path);
        var buffer = new byte[1 << 20];
        for (int written = 0; written < size; written += buffer.Length)
        {
            RandomNumberGenerator.Fill(buffer);
            sha.TransformBlock(buffer, 0, buffer.Length, null, 0);
            await file.WriteAsync(buffer, ct);
        }
        sha.TransformFinalBlock([], 0, 0);
        return Convert.ToHexStringLower(sha.Hash!);
    }

    private static async Task RunAsync(string[] command, CancellationToken ct)
    {
        (await ChildProcess.RunAsync(command[0], command[1..], Step, ct)).EnsureSuccess();
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
