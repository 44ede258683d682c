using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.Echo;
using P2PNet.Testing.Interop;

namespace P2PNet.Testing.Soak;

/// <summary>
/// A fault-injection soak: hosts in this process and <c>p2pnet node</c> processes exchange SHA-256-checked echo messages
/// while nodes are stopped and restarted, killed with SIGKILL, frozen with SIGSTOP, flooded with garbage and held by
/// peers that never read. A message whose attempt fails is retried until it is echoed intact or the recovery window
/// after the run ends; what is still undelivered then is lost. Used by <c>bench/soak.sh</c> (minutes) and by a short
/// test in the suite.
/// </summary>
public sealed class SoakRun
{
    private readonly SoakOptions _options;
    private readonly Random _random;
    private readonly List<SoakNode> _nodes = [];
    private readonly List<InProcessSoakNode> _hosts = [];
    private readonly List<ProcessSoakNode> _processes = [];
    private readonly ConcurrentDictionary<SoakFault, int> _faults = new();
    private readonly ConcurrentDictionary<SoakFault, ConcurrentBag<TimeSpan>> _recoveries = new();
    private readonly ConcurrentBag<string> _unrecovered = [];
    private long _sent;
    private long _delivered;
    private long _corrupted;
    private long _retries;
    private int _peakConnections;
    private long _peakRss;
    private long _peakManaged;
    private TimeSpan _slowestStop;

    private SoakRun(SoakOptions options)
    {
        _options = options;
        _random = new Random(options.Seed);
    }

    /// <summary>Runs a soak with <paramref name="options"/> and returns its figures.</summary>
    public static Task<SoakReport> RunAsync(SoakOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.InProcessNodes < 2)
        {
            throw new ArgumentException("A soak needs at least two in-process hosts (one stays up to observe the others).", nameof(options));
        }
        return new SoakRun(options).RunCoreAsync(cancellationToken);
    }

    private void Log(string line) => _options.Log?.Invoke($"[soak {DateTime.UtcNow:HH:mm:ss.fff}] {line}");

    private async Task<SoakReport> RunCoreAsync(CancellationToken cancellationToken)
    {
        string keys = Directory.CreateTempSubdirectory("p2pnet-soak-").FullName;
        var identities = new List<PrivateKey>();
        try
        {
            await StartNodesAsync(keys, identities, cancellationToken).ConfigureAwait(false);
            Log($"{_hosts.Count} hosts and {_processes.Count} p2pnet node processes up; seed {_options.Seed}");

            using var trafficEnd = new CancellationTokenSource(_options.Duration);
            using var finalDeadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            finalDeadline.CancelAfter(_options.Duration + _options.RecoveryWindow);
            using var samplerStop = new CancellationTokenSource();

            var sampler = SampleAsync(samplerStop.Token);
            var senders = Enumerable.Range(0, _options.Senders)
                .Select(i => SendLoopAsync(new Random(_options.Seed + 1 + i), trafficEnd.Token, finalDeadline.Token))
                .ToArray();
            await InjectFaultsAsync(trafficEnd.Token, finalDeadline.Token).ConfigureAwait(false);
            Log("faults stopped; waiting for the messages still in flight");
            await Task.WhenAll(senders).ConfigureAwait(false);
            int connectionsAtEnd = _hosts.Sum(h => h.Host?.Connections.Count ?? 0);
            await samplerStop.CancelAsync().ConfigureAwait(false);
            await sampler.ConfigureAwait(false);
            foreach (var process in _processes)
            {
                process.SamplePeakMemory();
            }
            cancellationToken.ThrowIfCancellationRequested();

            return new SoakReport
            {
                Seed = _options.Seed,
                InProcessNodes = _hosts.Count,
                ProcessNodes = _processes.Count,
                Duration = _options.Duration,
                Faults = Enum.GetValues<SoakFault>().ToDictionary(f => f, f => _faults.GetValueOrDefault(f)),
                MessagesSent = Interlocked.Read(ref _sent),
                MessagesDelivered = Interlocked.Read(ref _delivered),
                MessagesCorrupted = Interlocked.Read(ref _corrupted),
                Retries = Interlocked.Read(ref _retries),
                PeakConnections = _peakConnections,
                ConnectionsAtEnd = connectionsAtEnd,
                PeakHarnessBytes = _peakRss,
                PeakManagedBytes = _peakManaged,
                PeakProcessNodeBytes = _processes.Count == 0 ? 0 : _processes.Max(p => p.PeakResidentBytes),
                Recoveries = _recoveries.ToDictionary(r => r.Key, r => (IReadOnlyList<TimeSpan>)[.. r.Value]),
                Unrecovered = [.. _unrecovered],
                SlowestHostStop = _slowestStop,
            };
        }
        finally
        {
            foreach (var node in _nodes)
            {
                await node.StopAsync().ConfigureAwait(false);
            }
            foreach (var identity in identities)
            {
                identity.Dispose();
            }
            Directory.Delete(keys, recursive: true);
        }
    }

    private async Task StartNodesAsync(string keys, List<PrivateKey> identities, CancellationToken cancellationToken)
    {
        for (int i = 0; i < _options.InProcessNodes; i++)
        {
            var identity = PrivateKey.GenerateEd25519();
            identities.Add(identity);
            var node = new InProcessSoakNode($"host{i}", identity);
            _nodes.Add(node);
            _hosts.Add(node);
            await node.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        for (int i = 0; i < _options.ProcessNodes; i++)
        {
            string keyFile = Path.Combine(keys, $"node{i}.key");
            using var key = PrivateKey.GenerateEd25519();
            key.WriteFile(keyFile);
            var node = new ProcessSoakNode($"proc{i}", keyFile, key.PublicKey.ToPeerId());
            _nodes.Add(node);
            _processes.Add(node);
            await node.StartAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    // --- traffic ---

    private async Task SendLoopAsync(Random random, CancellationToken trafficEnd, CancellationToken finalDeadline)
    {
        await Task.Yield();
        while (!trafficEnd.IsCancellationRequested)
        {
            var payload = new byte[random.Next(1, _options.MaxMessageBytes + 1)];
            random.NextBytes(payload);
            var target = _nodes[random.Next(_nodes.Count)];
            Interlocked.Increment(ref _sent);
            await DeliverAsync(random, target, payload, finalDeadline).ConfigureAwait(false);
        }
    }

    /// <summary>Echoes <paramref name="payload"/> to <paramref name="target"/>, retrying past faults until it comes back
    /// or <paramref name="deadline"/> passes (then the message is lost).</summary>
    private async Task DeliverAsync(Random random, SoakNode target, byte[] payload, CancellationToken deadline)
    {
        byte[] hash = SHA256.HashData(payload);
        while (!deadline.IsCancellationRequested)
        {
            switch (await TryEchoAsync(random, target, payload, hash, deadline).ConfigureAwait(false))
            {
                case EchoOutcome.Intact:
                    Interlocked.Increment(ref _delivered);
                    return;
                case EchoOutcome.Corrupted:
                    Interlocked.Increment(ref _corrupted);
                    return;
                default:
                    Interlocked.Increment(ref _retries);
                    try
                    {
                        await Task.Delay(random.Next(50, 250), deadline).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                    break;
            }
        }
    }

    private enum EchoOutcome { Intact, Corrupted, Failed }

    private async Task<EchoOutcome> TryEchoAsync(Random random, SoakNode target, byte[] payload, byte[] hash, CancellationToken deadline)
    {
        var address = target.Address;
        var candidates = _hosts.Where(h => h != target && h.Host is not null).ToArray();
        if (address is null || candidates.Length == 0)
        {
            return EchoOutcome.Failed;
        }
        var sender = candidates[random.Next(candidates.Length)].Host;
        if (sender is null)
        {
            return EchoOutcome.Failed;
        }
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(deadline);
        attempt.CancelAfter(_options.AttemptTimeout);
        try
        {
            var connection = await sender.DialAsync(address, attempt.Token).ConfigureAwait(false);
            byte[] echoed = await EchoClient.EchoAsync(connection, payload, attempt.Token).ConfigureAwait(false);
            return SHA256.HashData(echoed).AsSpan().SequenceEqual(hash) ? EchoOutcome.Intact : EchoOutcome.Corrupted;
        }
#pragma warning disable CA1031 // any failure of one attempt (reset, refused, timed out, host stopping) is retried
        catch (Exception)
#pragma warning restore CA1031
        {
            return EchoOutcome.Failed;
        }
    }

    // --- faults ---

    private async Task InjectFaultsAsync(CancellationToken trafficEnd, CancellationToken finalDeadline)
    {
        var kinds = Enum.GetValues<SoakFault>().Where(k => _processes.Count > 0 || k is not (SoakFault.ProcessKill or SoakFault.ProcessStall)).ToArray();
        int round = 0;
        while (!trafficEnd.IsCancellationRequested)
        {
            // Every kind once in turn, then at random, so even a short run injects each kind.
            var kind = round < kinds.Length ? kinds[round] : kinds[_random.Next(kinds.Length)];
            round++;
            await InjectAsync(kind, finalDeadline).ConfigureAwait(false);
            _faults.AddOrUpdate(kind, 1, (_, n) => n + 1);
            try
            {
                await Task.Delay(_options.FaultInterval, trafficEnd).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task InjectAsync(SoakFault kind, CancellationToken deadline)
    {
        switch (kind)
        {
            case SoakFault.HostRestart:
            {
                // Host 0 is never faulted: it observes the others' recovery.
                var node = _hosts[1 + _random.Next(_hosts.Count - 1)];
                Log($"restarting {node.Name}");
                var stopping = Stopwatch.StartNew();
                await node.StopAsync().ConfigureAwait(false);
                RecordStop(stopping.Elapsed);
                await Task.Delay(500, deadline).ConfigureAwait(false);
                var back = Stopwatch.StartNew();
                await node.StartAsync(deadline).ConfigureAwait(false);
                await AwaitRecoveryAsync(kind, node, back, deadline).ConfigureAwait(false);
                break;
            }
            case SoakFault.ProcessKill:
            {
                var node = _processes[_random.Next(_processes.Count)];
                Log($"SIGKILL {node.Name}");
                await node.KillAsync().ConfigureAwait(false);
                var back = Stopwatch.StartNew();
                await node.StartAsync(deadline).ConfigureAwait(false);
                await AwaitRecoveryAsync(kind, node, back, deadline).ConfigureAwait(false);
                break;
            }
            case SoakFault.ProcessStall:
            {
                var node = _processes[_random.Next(_processes.Count)];
                Log($"SIGSTOP {node.Name} for {_options.StallDuration.TotalSeconds:0.#} s");
                node.Stall();
                try
                {
                    await Task.Delay(_options.StallDuration, deadline).ConfigureAwait(false);
                }
                finally
                {
                    node.Continue();
                }
                await AwaitRecoveryAsync(kind, node, Stopwatch.StartNew(), deadline).ConfigureAwait(false);
                break;
            }
            case SoakFault.GarbageFlood:
            {
                var node = _nodes[_random.Next(_nodes.Count)];
                Log($"garbage flood of {_options.FloodSockets} sockets at {node.Name}");
                await FloodAsync(node, deadline).ConfigureAwait(false);
                break;
            }
            case SoakFault.StalledReader:
            {
                var node = _nodes[1 + _random.Next(_nodes.Count - 1)];
                Log($"stalled reader with {_options.StalledStreams} streams at {node.Name}");
                await StalledReaderAsync(node, deadline).ConfigureAwait(false);
                break;
            }
        }
    }

    /// <summary>Echoes from host 0 to <paramref name="node"/> until one comes back intact; records how long it took.</summary>
    private async Task AwaitRecoveryAsync(SoakFault kind, SoakNode node, Stopwatch since, CancellationToken deadline)
    {
        var probe = new Random(_random.Next());
        byte[] payload = RandomNumberGenerator.GetBytes(1024);
        byte[] hash = SHA256.HashData(payload);
        var observer = _hosts[0];
        while (!deadline.IsCancellationRequested)
        {
            if (node.Address is { } address && observer.Host is { } host)
            {
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(deadline);
                attempt.CancelAfter(_options.AttemptTimeout);
                try
                {
                    var connection = await host.DialAsync(address, attempt.Token).ConfigureAwait(false);
                    byte[] echoed = await EchoClient.EchoAsync(connection, payload, attempt.Token).ConfigureAwait(false);
                    if (SHA256.HashData(echoed).AsSpan().SequenceEqual(hash))
                    {
                        _recoveries.GetOrAdd(kind, _ => []).Add(since.Elapsed);
                        return;
                    }
                }
#pragma warning disable CA1031 // not back yet: try again
                catch (Exception)
#pragma warning restore CA1031
                {
                }
            }
            try
            {
                await Task.Delay(probe.Next(20, 60), deadline).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        _unrecovered.Add(node.Name);
    }

    private async Task FloodAsync(SoakNode node, CancellationToken deadline)
    {
        if (node.Address is not { } address || !address.TryGetTcpEndPoint(out var endPoint))
        {
            return;
        }
        var sockets = new List<Socket>();
        try
        {
            for (int i = 0; i < _options.FloodSockets; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                sockets.Add(socket);
                try
                {
                    // From another loopback address, as a second machine would.
                    socket.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
                    await socket.ConnectAsync(endPoint, deadline).ConfigureAwait(false);
                    // Some send nothing, some a protocol-looking prefix, some random bytes.
                    byte[] garbage = (i % 3) switch
                    {
                        0 => [],
                        1 => "\x13/multistream/1.0.0\n"u8.ToArray().Concat(RandomNumberGenerator.GetBytes(_random.Next(1, 4096))).ToArray(),
                        _ => RandomNumberGenerator.GetBytes(_random.Next(1, 4096)),
                    };
                    if (garbage.Length > 0)
                    {
                        await socket.SendAsync(garbage, SocketFlags.None, deadline).ConfigureAwait(false);
                    }
                }
                catch (SocketException)
                {
                    // refused or reset by the node: that is what it should do with garbage
                }
            }
            await Task.Delay(2000, deadline).ConfigureAwait(false);
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    private async Task StalledReaderAsync(SoakNode node, CancellationToken deadline)
    {
        if (node.Address is not { } address)
        {
            return;
        }
        var attacker = new P2PHost(new P2PHostOptions { AgentVersion = "p2pnet-soak/attacker" });
        try
        {
            await attacker.StartAsync(deadline).ConfigureAwait(false);
            using var hold = CancellationTokenSource.CreateLinkedTokenSource(deadline);
            hold.CancelAfter(TimeSpan.FromSeconds(3));
            var writers = new List<Task>();
            try
            {
                var connection = await attacker.DialAsync(address, hold.Token).ConfigureAwait(false);
                for (int i = 0; i < _options.StalledStreams; i++)
                {
                    var stream = await connection.OpenStreamAsync(EchoProtocol.Id, hold.Token).ConfigureAwait(false);
                    writers.Add(WriteWithoutReadingAsync(stream, hold.Token));
                }
                await Task.WhenAll(writers).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // the node may refuse or reset the attacker: that is its right
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }
        finally
        {
            // The attacker goes away with its streams unread: the node must release them, and the attacker's own
            // shutdown must not hang on the flushes the node never acknowledged.
            var stopping = Stopwatch.StartNew();
            await attacker.DisposeAsync().ConfigureAwait(false);
            RecordStop(stopping.Elapsed);
        }
    }

    private void RecordStop(TimeSpan elapsed)
    {
        lock (_recoveries)
        {
            _slowestStop = elapsed > _slowestStop ? elapsed : _slowestStop;
        }
    }

    private static async Task WriteWithoutReadingAsync(P2PStream stream, CancellationToken hold)
    {
        byte[] chunk = new byte[16 * 1024];
        try
        {
            while (!hold.IsCancellationRequested)
            {
                await stream.WriteAsync(chunk, hold).ConfigureAwait(false);
            }
        }
#pragma warning disable CA1031 // blocked by flow control until the hold ends, or reset by the node
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private async Task SampleAsync(CancellationToken stop)
    {
        using var process = Process.GetCurrentProcess();
        while (!stop.IsCancellationRequested)
        {
            int connections = _hosts.Sum(h => h.Host?.Connections.Count ?? 0);
            _peakConnections = Math.Max(_peakConnections, connections);
            process.Refresh();
            _peakRss = Math.Max(_peakRss, process.WorkingSet64);
            _peakManaged = Math.Max(_peakManaged, GC.GetTotalMemory(forceFullCollection: false));
            try
            {
                await Task.Delay(250, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
