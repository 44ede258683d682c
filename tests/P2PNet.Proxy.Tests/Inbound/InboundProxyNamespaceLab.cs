using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using P2PNet.Crypto;
using P2PNet.Testing.Interop;
using P2PNet.Testing.Networking;
using P2PNet.Testing.Processes;

namespace P2PNet.Proxy.Tests.Inbound;

/// <summary>The inbound proxy's namespace lab starts a VPN coordinator with a kernel TUN, a proxy process per test and
/// moves hundreds of MiB: it runs alone, so its load does not distort timing-sensitive tests beside it.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class InboundProxyLabGroup : ICollectionFixture<InboundProxyNamespaceLab>
{
    /// <summary>The collection's name.</summary>
    public const string Name = "inbound-proxy-lab";
}

/// <summary>
/// Issue #18's network: three namespaces on one "Internet" switch (192.0.2.0/24). <c>svc</c> is the service node, a
/// <c>p2pnet vpn up --coordinator</c> with a kernel TUN at <see cref="ServiceVpnIp"/>, running the services a proxy
/// forwards to (one python process: HTTP, UDP echo and three small TCP services for the teardown cases). <c>proxy</c>
/// holds the <c>p2pnet proxy inbound</c> processes (one per test, each with its own key, VPN address, ports and options:
/// see <see cref="StartProxyAsync"/>). <c>client</c> is a public client with two addresses (per-source limits are
/// tested from one while the other stays free). Shared by the tests of the collection; deleted on disposal.
/// </summary>
public sealed class InboundProxyNamespaceLab : IAsyncLifetime
{
    /// <summary>A generous bound for one step (a process start, a VPN join, a wait for a count).</summary>
    public static readonly TimeSpan Step = TimeSpan.FromSeconds(60);

    public const string ServiceIp = "192.0.2.10";
    public const string ProxyIp = "192.0.2.20";
    public const string ClientIp = "192.0.2.30";
    public const string SecondClientIp = "192.0.2.31";
    public const string VpnCidr = "10.86.0.0/24";
    public const string ServiceVpnIp = "10.86.0.2";

    /// <summary>HTTP (python's http.server over <see cref="Directory"/>).</summary>
    public const int HttpPort = 80;

    /// <summary>UDP echo.</summary>
    public const int UdpEchoPort = 7;

    /// <summary>TCP: reads until the client's end of stream, then replies <c>GOT n sha256hex</c> and closes.</summary>
    public const int ReplyAtEndPort = 81;

    /// <summary>TCP: says <c>BYE</c> and closes at once (the service closes first).</summary>
    public const int ClosingPort = 82;

    /// <summary>TCP echo that keeps the connection open as long as the client does.</summary>
    public const int TcpEchoPort = 83;

    /// <summary>The page served at <c>/</c>.</summary>
    public const string Page = "<html><body>p2pnet inbound proxy lab: the service</body></html>\n";

    // Enough keys for every proxy the tests start: a key (and VPN address) is never used twice, so a new proxy never
    // meets the coordinator's state about a previous one.
    private const int ProxyKeys = 16;

    private const string ServiceScript = """
        import hashlib, http.server, socket, socketserver, sys, threading
        ip, root = sys.argv[1], sys.argv[2]

        class Handler(http.server.SimpleHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def __init__(self, *a, **k):
                super().__init__(*a, directory=root, **k)
            def log_message(self, *a):
                pass

        class ReplyAtEnd(socketserver.BaseRequestHandler):
            def handle(self):
                h, n = hashlib.sha256(), 0
                while True:
                    b = self.request.recv(65536)
                    if not b:
                        break
                    h.update(b); n += len(b)
                self.request.sendall(("GOT %d %s\n" % (n, h.hexdigest())).encode() * 1000)

        class Closing(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.sendall(b"BYE\n")

        class Echo(socketserver.BaseRequestHandler):
            def handle(self):
                while True:
                    b = self.request.recv(65536)
                    if not b:
                        break
                    self.request.sendall(b)

        class Tcp(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True
            request_queue_size = 512

        class Http(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 512

        def udp_echo():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((ip, 7))
            while True:
                b, a = s.recvfrom(65536)
                s.sendto(b, a)

        servers = [Http((ip, 80), Handler), Tcp((ip, 81), ReplyAtEnd), Tcp((ip, 82), Closing), Tcp((ip, 83), Echo)]
        threading.Thread(target=udp_echo, daemon=True).start()
        for s in servers:
            threading.Thread(target=s.serve_forever, daemon=True).start()
        print("READY", flush=True)
        threading.Event().wait()
        """;

    private readonly List<string> _proxyIds = [];
    private NamespaceLab? _lab;
    private ChildProcess? _coordinator;
    private ChildProcess? _services;
    private int _proxies;

    /// <summary>The temporary directory with the keys; its <c>www</c> folder is what the HTTP service serves.</summary>
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("p2pnet-nsproxy-").FullName;

    /// <summary>The folder the HTTP service serves.</summary>
    public string WebRoot => Path.Combine(Directory, "www");

    /// <summary>The service node's namespace.</summary>
    public string Service { get; private set; } = "";

    /// <summary>The proxy's namespace.</summary>
    public string Proxy { get; private set; } = "";

    /// <summary>The public client's namespace.</summary>
    public string Client { get; private set; } = "";

    /// <summary>The service node's (coordinator's) peer id.</summary>
    public string ServicePeerId { get; private set; } = "";

    /// <summary>The VPN's id, as the coordinator printed it.</summary>
    public string VpnId { get; private set; } = "";

    /// <summary>The coordinator's address for <c>--vpn-join</c>.</summary>
    public string JoinAddress => $"/ip4/{ServiceIp}/tcp/4001/p2p/{ServicePeerId}";

    private NamespaceLab Lab => _lab ?? throw new InvalidOperationException("the lab is not set up");

    /// <inheritdoc/>
    public async Task InitializeAsync()
    {
        await NamespaceLab.RequireToolAsync("python3", "python3", CancellationToken.None);
        await NamespaceLab.RequireToolAsync("curl", "curl", CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var ct = cts.Token;
        _lab = await NamespaceLab.CreateAsync("nsproxy", ct);
        var internet = await _lab.AddSwitchAsync("192.0.2.0/24", ct);
        Service = await _lab.AddHostAsync("svc", internet, ServiceIp, ct);
        Proxy = await _lab.AddHostAsync("proxy", internet, ProxyIp, ct);
        Client = await _lab.AddHostAsync("client", internet, ClientIp, ct);
        await _lab.ExecAsync(Client, ct, "ip", "addr", "add", $"{SecondClientIp}/24", "dev", _lab.InterfaceOn(Client, internet));

        ServicePeerId = NewKey("svc.key");
        List<string> allow = [];
        for (int i = 0; i < ProxyKeys; i++)
        {
            _proxyIds.Add(NewKey(ProxyKeyName(i)));
            allow.AddRange(["--allow", $"{_proxyIds[i]}={ProxyVpnIp(i)}"]);
        }

        _coordinator = _lab.Start(Service, ["dotnet", P2PNetCli.Assembly, "vpn", "up", "--coordinator", "--cidr", VpnCidr, "--ip", ServiceVpnIp,
            .. allow, "--key", Path.Combine(Directory, "svc.key"), "--listen", $"/ip4/{ServiceIp}/tcp/4001", "--tun", "p2vpn0"]);
        await _coordinator.WaitForLineAsync("VPN UP", null, Step, ct);
        VpnId = (await _coordinator.WaitForLineAsync("VPN ID ", null, Step, ct))["VPN ID ".Length..].Trim();

        System.IO.Directory.CreateDirectory(WebRoot);
        await File.WriteAllTextAsync(Path.Combine(WebRoot, "index.html"), Page, ct);
        string script = Path.Combine(Directory, "services.py");
        await File.WriteAllTextAsync(script, ServiceScript, ct);
        _services = _lab.Start(Service, ["python3", "-u", script, ServiceVpnIp, WebRoot]);
        await _services.WaitForLineAsync("READY", null, Step, ct);
    }

    /// <summary>
    /// Starts <c>p2pnet proxy inbound</c> in the proxy namespace with the next unused key, listening on its own libp2p
    /// port, joining the VPN and serving its API on its own loopback port, plus <paramref name="options"/>
    /// (e.g. <c>--idle-timeout 2</c>); returns once it printed its API line.
    /// </summary>
    public async Task<InboundProxyNode> StartProxyAsync(CancellationToken cancellationToken, params string[] options)
    {
        int index = Interlocked.Increment(ref _proxies) - 1;
        if (index >= ProxyKeys)
        {
            throw new InvalidOperationException($"only {ProxyKeys} proxy keys are allowed into the VPN: raise ProxyKeys");
        }

        string api = $"http://127.0.0.1:{7466 + index}";
        var process = Lab.Start(Proxy, ["dotnet", P2PNetCli.Assembly, "proxy", "inbound", "--key", Path.Combine(Directory, ProxyKeyName(index)),
            "--listen", $"/ip4/{ProxyIp}/tcp/{4002 + index}", "--vpn-join", JoinAddress, "--api", api[7..], .. options]);
        var node = new InboundProxyNode(this, process, index, api);
        try
        {
            await process.WaitForLineAsync("VPN UP", null, Step, cancellationToken);
            await process.WaitForLineAsync("PROXY API", null, Step, cancellationToken);
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>The VPN address reserved for the proxy with key <paramref name="index"/>.</summary>
    public static string ProxyVpnIp(int index) => $"10.86.0.{10 + index}";

    /// <summary>Runs <paramref name="command"/> in <paramref name="ns"/> to its end (non-zero exits are returned, not thrown).</summary>
    public async Task<InboundLabRun> RunAsync(string ns, TimeSpan timeout, CancellationToken cancellationToken, params string[] command)
    {
        await using var process = Lab.Start(ns, command);
        int exit = await process.WaitForExitAsync(timeout, cancellationToken);
        return new InboundLabRun(exit, string.Join('\n', process.Lines), process.Stderr, process.CommandLine);
    }

    /// <summary>Runs <paramref name="command"/> in <paramref name="ns"/> and returns its stdout; fails unless it exits 0.</summary>
    public async Task<string> ExecAsync(string ns, TimeSpan timeout, CancellationToken cancellationToken, params string[] command)
    {
        var run = await RunAsync(ns, timeout, cancellationToken, command);
        Assert.True(run.ExitCode == 0, run.ToString());
        return run.Stdout;
    }

    /// <summary>A TCP connection from the client namespace to <paramref name="port"/> on the proxy, from
    /// <paramref name="source"/> (default <see cref="ClientIp"/>).</summary>
    public async Task<Socket> ConnectFromClientAsync(int port, CancellationToken cancellationToken, string source = ClientIp)
    {
        var socket = NamespaceLab.CreateSocket(Client);
        try
        {
            socket.Bind(new IPEndPoint(IPAddress.Parse(source), 0));
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Parse(ProxyIp), port), cancellationToken).AsTask().WaitAsync(Step, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>A UDP socket in the client namespace bound to <see cref="ClientIp"/>.</summary>
    public Socket CreateClientUdpSocket()
    {
        var socket = NamespaceLab.CreateSocket(Client, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Parse(ClientIp), 0));
        return socket;
    }

    /// <inheritdoc/>
    public async Task DisposeAsync()
    {
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }

        if (_coordinator is not null)
        {
            await _coordinator.DisposeAsync();
        }

        if (_lab is not null)
        {
            await _lab.DisposeAsync();
        }

        System.IO.Directory.Delete(Directory, recursive: true);
    }

    internal Task<ProcessRunResult> CliAsync(CancellationToken cancellationToken, params string[] arguments) =>
        ChildProcess.RunAsync("ip", ["netns", "exec", Proxy, "dotnet", P2PNetCli.Assembly, .. arguments], Step, cancellationToken);

    private static string ProxyKeyName(int index) => $"proxy{index.ToString(CultureInfo.InvariantCulture)}.key";

    private string NewKey(string name)
    {
        using var key = PrivateKey.GenerateEd25519();
        key.WriteFile(Path.Combine(Directory, name));
        return key.PublicKey.ToPeerId().ToString();
    }
}

/// <summary>A command's end: exit code, stdout (lines joined by <c>\n</c>) and stderr.</summary>
public sealed record InboundLabRun(int ExitCode, string Stdout, string Stderr, string CommandLine)
{
    /// <inheritdoc/>
    public override string ToString() => $"'{CommandLine}' exited {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
}

/// <summary>
/// One <c>p2pnet proxy inbound</c> process of an <see cref="InboundProxyNamespaceLab"/>: its API (from the proxy
/// namespace, by curl and by the CLI's client commands), and the public ports it may open (<see cref="Port"/>, its own
/// range so proxies never collide). Stopped on disposal.
/// </summary>
public sealed class InboundProxyNode : IAsyncDisposable
{
    private readonly InboundProxyNamespaceLab _lab;

    internal InboundProxyNode(InboundProxyNamespaceLab lab, ChildProcess process, int index, string api)
    {
        _lab = lab;
        Process = process;
        Index = index;
        Api = api;
    }

    /// <summary>The process (its stdout lines, stderr).</summary>
    public ChildProcess Process { get; }

    /// <summary>Which proxy key it runs with.</summary>
    public int Index { get; }

    /// <summary>Its API's base URL (reachable from the proxy namespace only).</summary>
    public string Api { get; }

    /// <summary>A public port of this proxy's own: <c>10000 + 100 × index + n</c>.</summary>
    public int Port(int n) => 10000 + (100 * Index) + n;

    /// <summary>Runs <c>p2pnet proxy ARGS --api URL</c> in the proxy namespace (non-zero exits are returned).</summary>
    public Task<ProcessRunResult> CliAsync(CancellationToken cancellationToken, params string[] arguments) =>
        _lab.CliAsync(cancellationToken, ["proxy", .. arguments, "--api", Api]);

    /// <summary>
    /// Adds a forwarding socket with the CLI (<c>proxy gateway add</c>) from <c>0.0.0.0:<paramref name="port"/></c> to the
    /// service at <c>10.86.0.2:<paramref name="servicePort"/></c> for <paramref name="activity"/>; fails unless it printed
    /// its GATEWAY line.
    /// </summary>
    public async Task AddGatewayAsync(string protocol, int port, int servicePort, string activity, CancellationToken cancellationToken)
    {
        var run = await CliAsync(cancellationToken, "gateway", "add", protocol, $"0.0.0.0:{port}", "--requestor", "lab", "--activity", activity,
            "--vpn", _lab.VpnId, "--remote-id", _lab.ServicePeerId, "--remote-addr", $"{InboundProxyNamespaceLab.ServiceVpnIp}:{servicePort}");
        Assert.True(run.Succeeded, run.ToString());
        Assert.Contains($"GATEWAY {protocol}/0.0.0.0:{port}", run.Stdout, StringComparison.Ordinal);
    }

    /// <summary>An HTTP request to the API with curl from the proxy namespace: the status code and the body.</summary>
    public async Task<(int Status, string Body)> RequestAsync(string method, string path, CancellationToken cancellationToken, string? json = null)
    {
        string[] body = json is null ? [] : ["-H", "Content-Type: application/json", "--data-binary", json];
        string output = await _lab.ExecAsync(_lab.Proxy, InboundProxyNamespaceLab.Step, cancellationToken,
            ["curl", "-sS", "--max-time", "30", "-X", method, .. body, "-w", "\n%{http_code}", Api + path]);
        int split = output.LastIndexOf('\n');
        return (int.Parse(output[(split + 1)..].Trim(), CultureInfo.InvariantCulture), output[..Math.Max(split, 0)]);
    }

    /// <summary>GETs <paramref name="path"/> from the API (must answer 200) and parses the JSON.</summary>
    public async Task<JsonElement> GetJsonAsync(string path, CancellationToken cancellationToken)
    {
        var (status, body) = await RequestAsync("GET", path, cancellationToken);
        Assert.True(status == 200, $"GET {path}: {status} {body}");
        using var document = JsonDocument.Parse(body);
        return document.RootElement.Clone();
    }

    /// <summary>The proxy's <c>Connections</c> counters (<c>/status-api/v1/metrics</c>).</summary>
    public async Task<JsonElement> ConnectionsAsync(CancellationToken cancellationToken) =>
        (await GetJsonAsync("/status-api/v1/metrics", cancellationToken)).GetProperty("Connections");

    /// <summary>Stops the process.</summary>
    public ValueTask DisposeAsync() => Process.DisposeAsync();

    /// <summary>The first line of stdout text that starts with <paramref name="prefix"/>.</summary>
    internal static string LineStartingWith(string text, string prefix) =>
        text.Split('\n').FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal))
        ?? throw new InvalidOperationException($"no line starts with '{prefix}':\n{text}");

    internal static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);
}
