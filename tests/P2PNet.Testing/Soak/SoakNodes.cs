using System.Globalization;
using System.Runtime.InteropServices;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.Echo;
using P2PNet.Testing.Interop;
using P2PNet.Testing.Processes;

namespace P2PNet.Testing.Soak;

/// <summary>One node of a soak run: where to reach it now, or null while it is down.</summary>
internal abstract class SoakNode(string name)
{
    public string Name { get; } = name;

    public abstract PeerId Id { get; }

    /// <summary>A dialable TCP address ending in /p2p/&lt;id&gt;, or null while the node is down.</summary>
    public abstract Multiaddr? Address { get; }

    public abstract ValueTask StopAsync();
}

/// <summary>A <see cref="P2PHost"/> in the harness process serving <c>/echo/1.0.0</c>; restarts keep its identity.</summary>
internal sealed class InProcessSoakNode(string name, PrivateKey identity) : SoakNode(name)
{
    private volatile P2PHost? _host;
    private volatile Multiaddr? _address;

    public override PeerId Id { get; } = identity.PublicKey.ToPeerId();

    public P2PHost? Host => _host;

    public override Multiaddr? Address => _address;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = new P2PHostOptions { Identity = identity, AgentVersion = "p2pnet-soak/" + Name };
        options.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        var host = new P2PHost(options);
        host.SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        await host.StartAsync(cancellationToken).ConfigureAwait(false);
        _address = host.ListenAddresses.First(a => a.ToString().Contains("/tcp/", StringComparison.Ordinal));
        _host = host;
    }

    public override async ValueTask StopAsync()
    {
        var host = _host;
        _host = null;
        _address = null;
        if (host is not null)
        {
            await host.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>A real <c>p2pnet node</c> process; killed, stalled and restarted with the same key file.</summary>
internal sealed class ProcessSoakNode(string name, string keyFile, PeerId id) : SoakNode(name)
{
    private const int SIGKILL = 9;
    private const int SIGCONT = 18;
    private const int SIGSTOP = 19;

    private ChildProcess? _process;
    private volatile Multiaddr? _address;

    public override PeerId Id { get; } = id;

    public override Multiaddr? Address => _address;

    /// <summary>The highest VmHWM read from any of this node's processes, in bytes.</summary>
    public long PeakResidentBytes { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _process = await P2PNetCli.StartNodeAsync(["--key", keyFile, "--listen", "/ip4/127.0.0.1/tcp/0"], TimeSpan.FromSeconds(60), cancellationToken)
            .ConfigureAwait(false);
        _address = Multiaddr.Parse(_process.ListenAddress());
    }

    public async Task KillAsync()
    {
        _address = null;
        if (_process is { } process)
        {
            SamplePeakMemory();
            Signal(process, SIGKILL);
            await process.DisposeAsync().ConfigureAwait(false);
            _process = null;
        }
    }

    public void Stall()
    {
        SamplePeakMemory();
        Signal(_process!, SIGSTOP);
    }

    public void Continue() => Signal(_process!, SIGCONT);

    public void SamplePeakMemory()
    {
        if (_process is null)
        {
            return;
        }
        try
        {
            foreach (var line in File.ReadLines($"/proc/{_process.ProcessId}/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    long kib = long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
                    PeakResidentBytes = Math.Max(PeakResidentBytes, kib * 1024);
                }
            }
        }
        catch (IOException)
        {
            // the process is gone
        }
    }

    public override async ValueTask StopAsync()
    {
        SamplePeakMemory();
        _address = null;
        if (_process is { } process)
        {
            Signal(process, SIGCONT);
            await process.DisposeAsync().ConfigureAwait(false);
            _process = null;
        }
    }

    private static void Signal(ChildProcess process, int signal)
    {
        if (Kill(process.ProcessId, signal) != 0)
        {
            throw new InvalidOperationException($"kill({process.ProcessId}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
