using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using P2PNet.Testing.Processes;
using Xunit;

namespace P2PNet.Testing.Networking;

/// <summary>
/// The one network-namespace lab of the tests: throw-away Linux network namespaces wired into small networks, and the
/// processes and sockets that run in them. Switches are bridges in a private hub namespace (nothing is added to the
/// machine's own namespace); hosts are namespaces joined to a switch by a veth pair (<c>eth0</c>, <c>eth1</c>, … inside);
/// routers are namespaces on two switches that forward, optionally behind an nftables masquerade (a NAT).
/// Every name starts with the caller's prefix and a random id, so parallel runs and other engineers' labs never collide;
/// <see cref="DisposeAsync"/> stops the processes and deletes every namespace (with their veths and bridges), also
/// after a failed setup. Needs root and <c>ip</c> (iproute2), and <c>nft</c> (nftables) for <see cref="MasqueradeAsync"/>:
/// without them a test fails and says what is missing.
/// </summary>
/// <example>
/// <code>
/// await using var lab = await NamespaceLab.CreateAsync("nat", ct);
/// var wan = await lab.AddSwitchAsync("10.77.0.0/24", ct);
/// var lan = await lab.AddSwitchAsync("10.78.0.0/24", ct);
/// string server = await lab.AddHostAsync("server", wan, "10.77.0.10", ct);
/// string router = await lab.AddRouterAsync("router", wan, "10.77.0.1", lan, "10.78.0.1", ct);
/// await lab.MasqueradeAsync(router, wan, ct);
/// string client = await lab.AddHostAsync("client", lan, "10.78.0.10", ct, gateway: "10.78.0.1");
/// await lab.ExecAsync(client, ct, "ping", "-c", "1", "10.77.0.10");
/// </code>
/// </example>
public sealed partial class NamespaceLab : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    private readonly string _prefix;
    private readonly string _id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
    private readonly List<string> _namespaces = [];
    private readonly List<ChildProcess> _processes = [];
    private readonly Dictionary<string, int> _interfaces = [];
    private readonly object _gate = new();
    private int _links;
    private int _switches;

    private NamespaceLab(string prefix) => _prefix = prefix;

    /// <summary>The hub namespace that holds the switches' bridges.</summary>
    public string Hub => $"{_prefix}-{_id}-hub";

    /// <summary>Every namespace created so far (the hub first).</summary>
    public IReadOnlyList<string> Namespaces
    {
        get
        {
            lock (_gate)
            {
                return _namespaces.ToArray();
            }
        }
    }

    /// <summary>Creates an empty lab (its hub namespace only).</summary>
    /// <param name="prefix">Starts every namespace's name: the test's own word (e.g. the feature or branch), so its
    /// namespaces are told apart from everyone else's in <c>ip netns list</c>.</param>
    /// <param name="cancellationToken">Stops the setup (the lab is then deleted).</param>
    public static async Task<NamespaceLab> CreateAsync(string prefix, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(prefix);
        await RequireAsync(cancellationToken).ConfigureAwait(false);
        var lab = new NamespaceLab(prefix);
        try
        {
            await lab.AddNamespaceAsync(lab.Hub, cancellationToken).ConfigureAwait(false);
            return lab;
        }
        catch
        {
            await lab.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Fails the test, saying what to do, unless it runs as root with <c>ip</c> installed.</summary>
    /// <param name="cancellationToken">Stops the check.</param>
    public static async Task RequireAsync(CancellationToken cancellationToken)
    {
        if (GetEffectiveUserId() != 0)
        {
            Assert.Fail("This test needs root (it creates network namespaces, bridges and veth pairs with `ip`); run the tests as root, as CI and ./test.sh do.");
        }

        await RequireToolAsync("ip", "iproute2", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Fails the test unless <paramref name="tool"/> is on the PATH, naming the Debian package to install.</summary>
    /// <param name="tool">The command.</param>
    /// <param name="package">The Debian package that has it.</param>
    /// <param name="cancellationToken">Stops the check.</param>
    public static async Task RequireToolAsync(string tool, string package, CancellationToken cancellationToken)
    {
        var found = await ChildProcess.RunAsync("sh", ["-c", $"command -v {tool} || true"], CommandTimeout, cancellationToken).ConfigureAwait(false);
        if (found.Stdout.Trim().Length == 0)
        {
            Assert.Fail($"This test needs '{tool}': apt-get install {package} (test.sh installs it).");
        }
    }

    /// <summary>Adds a switch: a bridge in the hub namespace for the hosts and routers of one IPv4 subnet.</summary>
    /// <param name="subnet">The subnet in CIDR form (e.g. <c>10.77.0.0/24</c>); only its prefix length is used, for the addresses given later.</param>
    /// <param name="cancellationToken">Stops the setup.</param>
    public async Task<LabSwitch> AddSwitchAsync(string subnet, CancellationToken cancellationToken)
    {
        var prefixLength = int.Parse(subnet[(subnet.IndexOf('/', StringComparison.Ordinal) + 1)..], CultureInfo.InvariantCulture);
        var bridge = $"br{Interlocked.Increment(ref _switches)}";
        await IpAsync(cancellationToken, "-n", Hub, "link", "add", bridge, "type", "bridge").ConfigureAwait(false);
        await IpAsync(cancellationToken, "-n", Hub, "link", "set", bridge, "up").ConfigureAwait(false);
        return new LabSwitch(bridge, subnet, prefixLength);
    }

    /// <summary>
    /// Adds a host: a namespace with loopback up and one interface on <paramref name="lanSwitch"/> at <paramref name="address"/>,
    /// multicast on. With a <paramref name="gateway"/> it gets a default route through it; without one, multicast
    /// (224.0.0.0/4) is routed out of its interface (mDNS needs that in a namespace with no default route).
    /// </summary>
    /// <param name="name">The host's short name (the namespace is <c>prefix-id-name</c>).</param>
    /// <param name="lanSwitch">The switch it plugs into.</param>
    /// <param name="address">Its IPv4 address there.</param>
    /// <param name="cancellationToken">Stops the setup.</param>
    /// <param name="gateway">The router address for its default route, or null.</param>
    /// <returns>The namespace's name, for <see cref="ExecAsync"/>, <see cref="Start"/> and <see cref="CreateSocket"/>.</returns>
    public async Task<string> AddHostAsync(string name, LabSwitch lanSwitch, string address, CancellationToken cancellationToken, string? gateway = null)
    {
        ArgumentNullException.ThrowIfNull(lanSwitch);
        var ns = await AddNamespaceAsync(NamespaceName(name), cancellationToken).ConfigureAwait(false);
        var inside = await ConnectAsync(ns, lanSwitch, address, cancellationToken).ConfigureAwait(false);
        if (gateway is null)
        {
            await IpAsync(cancellationToken, "-n", ns, "route", "add", "224.0.0.0/4", "dev", inside).ConfigureAwait(false);
        }
        else
        {
            await IpAsync(cancellationToken, "-n", ns, "route", "add", "default", "via", gateway).ConfigureAwait(false);
        }

        return ns;
    }

    /// <summary>
    /// Adds a router: a namespace with IPv4 forwarding on, plugged into <paramref name="wan"/> (as <c>eth0</c>) and
    /// <paramref name="lan"/> (as <c>eth1</c>). Add <see cref="MasqueradeAsync"/> to make it a NAT.
    /// </summary>
    /// <param name="name">The router's short name.</param>
    /// <param name="wan">The outside switch.</param>
    /// <param name="wanAddress">Its address outside.</param>
    /// <param name="lan">The inside switch.</param>
    /// <param name="lanAddress">Its address inside (the inside hosts' gateway).</param>
    /// <param name="cancellationToken">Stops the setup.</param>
    /// <param name="wanGateway">A default route for the router itself (another router outside), or null.</param>
    /// <returns>The router namespace's name.</returns>
    public async Task<string> AddRouterAsync(string name, LabSwitch wan, string wanAddress, LabSwitch lan, string lanAddress,
        CancellationToken cancellationToken, string? wanGateway = null)
    {
        ArgumentNullException.ThrowIfNull(wan);
        ArgumentNullException.ThrowIfNull(lan);
        var ns = await AddNamespaceAsync(NamespaceName(name), cancellationToken).ConfigureAwait(false);
        await ConnectAsync(ns, wan, wanAddress, cancellationToken).ConfigureAwait(false);
        await ConnectAsync(ns, lan, lanAddress, cancellationToken).ConfigureAwait(false);
        await ExecAsync(ns, cancellationToken, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1").ConfigureAwait(false);
        if (wanGateway is not null)
        {
            await IpAsync(cancellationToken, "-n", ns, "route", "add", "default", "via", wanGateway).ConfigureAwait(false);
        }

        return ns;
    }

    /// <summary>
    /// Plugs a host or router that already exists into one more switch (the next <c>ethN</c> inside, at
    /// <paramref name="address"/>), without forwarding: a multi-homed host such as a server with a public and a private side.
    /// </summary>
    /// <param name="ns">A namespace from <see cref="AddHostAsync"/> or <see cref="AddRouterAsync"/>.</param>
    /// <param name="lanSwitch">The switch to plug into.</param>
    /// <param name="address">Its IPv4 address there.</param>
    /// <param name="cancellationToken">Stops the setup.</param>
    /// <returns>The new interface's name inside <paramref name="ns"/>.</returns>
    public Task<string> AddInterfaceAsync(string ns, LabSwitch lanSwitch, string address, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lanSwitch);
        return ConnectAsync(ns, lanSwitch, address, cancellationToken);
    }

    /// <summary>
    /// Makes <paramref name="router"/> a NAT: an nftables masquerade of everything it forwards out of its interface on
    /// <paramref name="outside"/> (source addresses rewritten to its own, replies mapped back by conntrack).
    /// </summary>
    /// <param name="router">A router from <see cref="AddRouterAsync"/>.</param>
    /// <param name="outside">The switch whose side is "outside".</param>
    /// <param name="cancellationToken">Stops the setup.</param>
    /// <param name="endpointDependent">Map every outbound connection to a random external port (<c>masquerade
    /// random,fully-random</c>): an endpoint-dependent ("symmetric") NAT. By default the masquerade keeps the source
    /// port when it can: endpoint-independent mapping, as most home routers do.</param>
    /// <param name="firewall">Drop new connections arriving from outside, at the router itself and forwarded, as a
    /// home router does (without it, an unsolicited SYN to the router gets a RST, which also spoils a hole punch).</param>
    public async Task MasqueradeAsync(string router, LabSwitch outside, CancellationToken cancellationToken,
        bool endpointDependent = false, bool firewall = false)
    {
        ArgumentNullException.ThrowIfNull(outside);
        await RequireToolAsync("nft", "nftables", cancellationToken).ConfigureAwait(false);
        string device = InterfaceOn(router, outside);
        await ExecAsync(router, cancellationToken, "nft", "add", "table", "ip", "nat").ConfigureAwait(false);
        await ExecAsync(router, cancellationToken, "nft", "add", "chain", "ip", "nat", "postrouting",
            "{ type nat hook postrouting priority 100 ; }").ConfigureAwait(false);
        string[] masquerade = endpointDependent ? ["masquerade", "random,fully-random"] : ["masquerade"];
        await ExecAsync(router, cancellationToken, ["nft", "add", "rule", "ip", "nat", "postrouting", "oifname", device, .. masquerade]).ConfigureAwait(false);
        if (firewall)
        {
            await ExecAsync(router, cancellationToken, "nft", "add", "table", "ip", "filter").ConfigureAwait(false);
            foreach (var hook in (string[])["input", "forward"])
            {
                await ExecAsync(router, cancellationToken, "nft", "add", "chain", "ip", "filter", hook,
                    $"{{ type filter hook {hook} priority 0 ; policy accept ; }}").ConfigureAwait(false);
                await ExecAsync(router, cancellationToken, "nft", "add", "rule", "ip", "filter", hook, "iifname", device, "ct", "state", "new", "drop").ConfigureAwait(false);
            }
        }
    }

    /// <summary>The interface name inside <paramref name="ns"/> that is plugged into <paramref name="lanSwitch"/>.</summary>
    /// <param name="ns">A host or router namespace.</param>
    /// <param name="lanSwitch">One of its switches.</param>
    public string InterfaceOn(string ns, LabSwitch lanSwitch)
    {
        ArgumentNullException.ThrowIfNull(lanSwitch);
        lock (_gate)
        {
            return _interfaces.TryGetValue($"{ns}|{lanSwitch.Bridge}", out int index)
                ? $"eth{index}"
                : throw new InvalidOperationException($"{ns} is not on switch {lanSwitch.Subnet}");
        }
    }

    /// <summary>
    /// Runs <paramref name="command"/> inside <paramref name="ns"/> (<c>ip netns exec</c>) to completion and returns its
    /// stdout; a non-zero exit throws <see cref="InvalidOperationException"/> carrying "exit" and the output.
    /// </summary>
    /// <param name="ns">The namespace, or null for the machine's own.</param>
    /// <param name="cancellationToken">The deadline (a command also stops after a minute).</param>
    /// <param name="command">The program and its arguments.</param>
    public async Task<string> ExecAsync(string? ns, CancellationToken cancellationToken, params string[] command)
    {
        ArgumentNullException.ThrowIfNull(command);
        string[] full = ns is null ? command : ["ip", "netns", "exec", ns, .. command];
        var result = await ChildProcess.RunAsync(full[0], full[1..], CommandTimeout, cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw new InvalidOperationException($"'{result.CommandLine}' failed with exit {result.ExitCode}: {result.Stdout}{result.Stderr}");
        }

        return result.Stdout;
    }

    /// <summary>Starts a long-running <paramref name="command"/> inside <paramref name="ns"/>; the lab stops it on disposal.</summary>
    /// <param name="ns">The namespace.</param>
    /// <param name="command">The program and its arguments.</param>
    /// <param name="keepInput">Keep its stdin open (<see cref="ChildProcess.Input"/>).</param>
    /// <param name="workingDirectory">Its working directory, or the current one.</param>
    public ChildProcess Start(string ns, IReadOnlyList<string> command, bool keepInput = false, string? workingDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(command);
        var process = ChildProcess.Start("ip", ["netns", "exec", ns, .. command], keepInput, workingDirectory);
        lock (_gate)
        {
            _processes.Add(process);
        }

        return process;
    }

    /// <summary>Waits until something listens on TCP <paramref name="port"/> in <paramref name="ns"/> (polls <c>ss</c>).</summary>
    /// <param name="ns">The namespace.</param>
    /// <param name="port">The TCP port.</param>
    /// <param name="timeout">How long it may take.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    public Task WaitForTcpListenerAsync(string ns, int port, TimeSpan timeout, CancellationToken cancellationToken) =>
        Conditions.WaitUntilAsync(
            async ct => (await ExecAsync(ns, ct, "ss", "-Hltn", $"sport = :{port}").ConfigureAwait(false)).Trim().Length > 0,
            timeout,
            $"nothing listens on TCP port {port} in {ns}",
            cancellationToken);

    /// <summary>Creates a socket that lives in <paramref name="ns"/> (see <see cref="RunIn{T}"/>); bind, connect and use it from anywhere.</summary>
    /// <param name="ns">The namespace.</param>
    /// <param name="type">The socket type.</param>
    /// <param name="protocol">The protocol.</param>
    /// <param name="family">The address family.</param>
    public static Socket CreateSocket(string ns, SocketType type = SocketType.Stream, ProtocolType protocol = ProtocolType.Tcp,
        AddressFamily family = AddressFamily.InterNetwork) =>
        RunIn(ns, () => new Socket(family, type, protocol));

    /// <summary>
    /// Runs <paramref name="create"/> on a short-lived thread that enters network namespace <paramref name="ns"/>
    /// (setns(2)) just for the call: sockets and TUN devices it creates belong to that namespace for their whole life.
    /// </summary>
    /// <typeparam name="T">What it creates.</typeparam>
    /// <param name="ns">The namespace (a name under /var/run/netns).</param>
    /// <param name="create">The work to do inside.</param>
    public static T RunIn<T>(string ns, Func<T> create)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(create);
        T? created = null;
        Exception? failure = null;
        string? error = null;
        var thread = new Thread(() =>
        {
            int own = Open("/proc/thread-self/ns/net", 0);
            int target = Open($"/var/run/netns/{ns}", 0);
            try
            {
                if (own < 0 || target < 0 || SetNs(target, CloneNewNet) != 0)
                {
                    error = $"cannot enter network namespace {ns}: errno {Marshal.GetLastPInvokeError()}";
                    return;
                }

                try
                {
                    created = create();
                }
#pragma warning disable CA1031 // rethrown on the calling thread
                catch (Exception e)
#pragma warning restore CA1031
                {
                    failure = e;
                }

                if (SetNs(own, CloneNewNet) != 0)
                {
                    error = "cannot return to the test's network namespace";
                }
            }
            finally
            {
                _ = Close(own);
                _ = Close(target);
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw new InvalidOperationException($"Failed inside network namespace {ns}: {failure.Message}", failure);
        }

        if (error is not null)
        {
            (created as IDisposable)?.Dispose();
            throw new InvalidOperationException(error);
        }

        return created!;
    }

    /// <summary>Stops the lab's processes, then deletes its namespaces (their veths and bridges go with them).</summary>
    public async ValueTask DisposeAsync()
    {
        ChildProcess[] processes;
        string[] namespaces;
        lock (_gate)
        {
            processes = _processes.ToArray();
            namespaces = _namespaces.ToArray();
            _processes.Clear();
            _namespaces.Clear();
        }

        foreach (var process in processes)
        {
            await process.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var ns in namespaces.Reverse())
        {
            try
            {
                await ChildProcess.RunAsync("ip", ["netns", "del", ns], CommandTimeout, CancellationToken.None).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // left behind; its random name keeps it from disturbing anything
            }
        }
    }

    /// <summary>Creates a bare namespace named exactly <paramref name="ns"/> (loopback up); deleted with the lab.</summary>
    private async Task<string> AddNamespaceAsync(string ns, CancellationToken cancellationToken)
    {
        await IpAsync(cancellationToken, "netns", "add", ns).ConfigureAwait(false);
        lock (_gate)
        {
            _namespaces.Add(ns);
        }

        await IpAsync(cancellationToken, "-n", ns, "link", "set", "lo", "up").ConfigureAwait(false);
        return ns;
    }

    private string NamespaceName(string name) => $"{_prefix}-{_id}-{name}";

    /// <summary>A veth pair from the next <c>ethN</c> in <paramref name="ns"/> to <paramref name="lanSwitch"/>'s bridge.</summary>
    private async Task<string> ConnectAsync(string ns, LabSwitch lanSwitch, string address, CancellationToken cancellationToken)
    {
        int index;
        string outside;
        lock (_gate)
        {
            index = _interfaces.Keys.Count(k => k.StartsWith(ns + "|", StringComparison.Ordinal));
            _interfaces[$"{ns}|{lanSwitch.Bridge}"] = index;
            outside = $"v{++_links}";
        }

        string inside = $"eth{index}";
        await IpAsync(cancellationToken, "link", "add", inside, "netns", ns, "type", "veth", "peer", "name", outside, "netns", Hub).ConfigureAwait(false);
        await IpAsync(cancellationToken, "-n", Hub, "link", "set", outside, "master", lanSwitch.Bridge, "up").ConfigureAwait(false);
        await IpAsync(cancellationToken, "-n", ns, "addr", "add", $"{address}/{lanSwitch.PrefixLength}", "dev", inside).ConfigureAwait(false);
        await IpAsync(cancellationToken, "-n", ns, "link", "set", inside, "up", "multicast", "on").ConfigureAwait(false);
        return inside;
    }

    private Task<string> IpAsync(CancellationToken cancellationToken, params string[] arguments) =>
        ExecAsync(null, cancellationToken, ["ip", .. arguments]);

    private const int CloneNewNet = 0x40000000;

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserId();

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nsType);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}

/// <summary>A switch of a <see cref="NamespaceLab"/>: a bridge in its hub namespace for one IPv4 subnet.</summary>
/// <param name="Bridge">The bridge's name in the hub namespace.</param>
/// <param name="Subnet">The subnet as given (CIDR).</param>
/// <param name="PrefixLength">The subnet's prefix length, given to every address on it.</param>
public sealed record LabSwitch(string Bridge, string Subnet, int PrefixLength);
