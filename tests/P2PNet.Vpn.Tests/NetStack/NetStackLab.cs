using System.Globalization;
using System.Net;
using System.Net.Sockets;
using P2PNet.Testing.Networking;
using P2PNet.Vpn.NetStack;
using P2PNet.Vpn.Tun;

namespace P2PNet.Vpn.Tests.NetStack;

/// <summary>
/// A bare network namespace from the test kit's <see cref="NamespaceLab"/> (prefix <c>netstack</c>) holding a TUN
/// device whose kernel side is 10.77.0.1/24, with a <see cref="IPStack"/> in this process as 10.77.0.2
/// behind it: the kernel's TCP is the peer under test. Kernel sockets are made inside the namespace
/// (<see cref="NamespaceLab.CreateSocket"/>). Everything goes in <see cref="DisposeAsync"/>.
/// </summary>
internal sealed class NetStackLab : IAsyncDisposable
{
    public const string TunName = "nstun0";
    public static readonly IPAddress KernelAddress = IPAddress.Parse("10.77.0.1");
    public static readonly IPAddress StackAddress = IPAddress.Parse("10.77.0.2");

    private readonly NamespaceLab _lab;
    private TunDevice? _device;
    private ImpairedPacketDevice? _impaired;

    private NetStackLab(NamespaceLab lab) => _lab = lab;

    /// <summary>The namespace of the TUN device and the kernel sockets (the lab's hub: a bare namespace is all it needs).</summary>
    public string Namespace => _lab.Hub;

    public IPStack Stack { get; private set; } = null!;

    /// <param name="options">The stack's options (its MTU is set from <paramref name="stackMtu"/> or <paramref name="mtu"/>).</param>
    /// <param name="mtu">The TUN device's MTU.</param>
    /// <param name="impairment">Loss, delay or reordering between the TUN and the stack, or none.</param>
    /// <param name="seed">The impairment's random seed.</param>
    /// <param name="stackMtu">The stack's own link MTU when it differs from the TUN's.</param>
    public static async Task<NetStackLab> CreateAsync(NetStackOptions? options = null, int mtu = 1500, Impairment? impairment = null, int seed = 1,
        int? stackMtu = null)
    {
        await KernelTestRequirements.CheckAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var lab = new NetStackLab(await NamespaceLab.CreateAsync("netstack", cts.Token));
        try
        {
            lab._device = NamespaceLab.RunIn(lab.Namespace, () => TunDevice.Create(TunName));
            await lab.RunAsync(cts.Token, "ip", "addr", "add", $"{KernelAddress}/24", "dev", TunName);
            await lab.RunAsync(cts.Token, "ip", "link", "set", TunName, "mtu", mtu.ToString(CultureInfo.InvariantCulture), "up");
            options ??= new NetStackOptions();
            options.Mtu = stackMtu ?? mtu;
            IPacketDevice device = lab._device;
            if (impairment is not null)
            {
                device = lab._impaired = new ImpairedPacketDevice(lab._device, impairment, seed);
            }
            lab.Stack = new IPStack(device, StackAddress, options);
            await lab.Stack.StartAsync(cts.Token);
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
        return lab;
    }

    /// <summary>A second namespace, "far" (10.78.0.2/24), routed to the stack through the TUN's namespace, whose own side
    /// of that link (10.78.0.1, a bridge) has MTU <paramref name="linkMtu"/>: the kernel there forwards between the
    /// two, and answers a packet too big for the link that may not be fragmented with ICMP "fragmentation needed".</summary>
    /// <returns>The far namespace, for <see cref="NamespaceLab.CreateSocket"/>.</returns>
    public async Task<string> AddRoutedHostAsync(int linkMtu, CancellationToken ct)
    {
        var link = await _lab.AddSwitchAsync("10.78.0.0/24", ct);
        string far = await _lab.AddHostAsync("far", link, "10.78.0.2", ct, gateway: "10.78.0.1");
        await RunAsync(ct, "ip", "addr", "add", "10.78.0.1/24", "dev", link.Bridge);
        await RunAsync(ct, "ip", "link", "set", link.Bridge, "mtu", linkMtu.ToString(CultureInfo.InvariantCulture));
        await RunAsync(ct, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
        return far;
    }

    /// <summary>A kernel TCP socket in the namespace.</summary>
    public Socket KernelSocket(SocketType type = SocketType.Stream, ProtocolType protocol = ProtocolType.Tcp) =>
        NamespaceLab.CreateSocket(Namespace, type, protocol);

    /// <summary>Many kernel TCP sockets in the namespace (one thread switch for all).</summary>
    public Socket[] KernelSockets(int count) =>
        NamespaceLab.RunIn(Namespace, () => Enumerable.Range(0, count).Select(_ => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)).ToArray());

    /// <summary>Runs a command inside the namespace; its stdout.</summary>
    public Task<string> RunAsync(CancellationToken ct, params string[] command) => _lab.ExecAsync(Namespace, ct, command);

    public async ValueTask DisposeAsync()
    {
        if (Stack is not null)
        {
            await Stack.DisposeAsync();
        }
        if (_impaired is not null)
        {
            await _impaired.DisposeAsync();
        }
        if (_device is not null)
        {
            await _device.DisposeAsync();
        }
        await _lab.DisposeAsync();
    }
}
