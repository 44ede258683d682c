using System.Buffers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Host.Internal;
using P2PNet.Vpn.Gateway.Internal;
using P2PNet.Vpn.NetStack;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.Gateway;

/// <summary>
/// The rootless egress of an outbound gateway: a slirp-style NAT without a TUN device or privileges. It reads the raw
/// IPv4 packets members send to Internet destinations from a packet device, terminates each flow and re-originates it
/// with ordinary OS sockets: TCP through a user-space stack that plays the destination towards the member (the member's
/// SYN is answered only once the OS connect succeeded, with RST when it failed), UDP through one connected socket per
/// flow (a port unreachable from the destination comes back as one), ICMP echo through
/// <see cref="System.Net.NetworkInformation.Ping"/>. Fragments from members are reassembled; replies larger than the MTU
/// are fragmented.
/// </summary>
/// <remarks>
/// <para>The device's <see cref="IPacketDevice.ReadPacketAsync"/> yields the members' packets and its
/// <see cref="IPacketDevice.WritePacketAsync"/> carries the replies back into the VPN; on a gateway node it is
/// <see cref="UserSpacePacketDevice.ApplicationEnd"/>. The egress applies no policy: which destinations members may reach,
/// who may use the gateway and how much is the VPN layer's to decide before a packet gets here.</para>
/// <para>Everything it holds is bounded by <see cref="RootlessEgressOptions"/>; malformed and hostile packets are dropped
/// and counted (<see cref="GetStatistics"/>), never thrown. All members are thread-safe. Call <see cref="StartAsync"/>
/// once; <see cref="DisposeAsync"/> resets every flow, closes every socket and awaits every loop.</para>
/// </remarks>
public sealed partial class RootlessEgress : IAsyncDisposable
{
    private static readonly TimeSpan TcpTimeWait = TimeSpan.FromSeconds(5);

    private readonly IPacketDevice _device;
    private readonly ILoggerFactory? _loggerFactory;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskTracker _tasks = new();
    private readonly Ipv4Reassembler _reassembly;
    private readonly long _startTimestamp;
    private readonly uint _localAddress; // 0: none
    private readonly long[] _drops = new long[Enum.GetValues<RootlessEgressDropReason>().Length];
    private long _packetsReceived;
    private long _bytesToInternet;
    private long _bytesFromInternet;
    private int _ipId;
    private Task? _readLoop;
    private Task? _maintenanceLoop;
    private bool _disposed;

    /// <summary>Creates an egress on <paramref name="device"/>; nothing runs until <see cref="StartAsync"/>.</summary>
    /// <param name="device">Packets from the VPN (members → Internet) are read from it; replies are written to it. On a
    /// gateway node, <see cref="UserSpacePacketDevice.ApplicationEnd"/>. Not disposed by the egress.</param>
    /// <param name="options">Limits and timers; defaults when null. Validated here.</param>
    /// <param name="loggerFactory">Logging; none when null.</param>
    /// <param name="timeProvider">The clock of every timeout (and of the user-space stacks' TCP timers);
    /// <see cref="TimeProvider.System"/> when null.</param>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public RootlessEgress(IPacketDevice device, RootlessEgressOptions? options = null, ILoggerFactory? loggerFactory = null,
        TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        Options = options ?? new RootlessEgressOptions();
        Options.Validate();
        _device = device;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory?.CreateLogger<RootlessEgress>() ?? (ILogger)NullLogger.Instance;
        Time = timeProvider ?? TimeProvider.System;
        _startTimestamp = Time.GetTimestamp();
        _localAddress = Options.LocalAddress is null ? 0 : FlowKey.ToValue(Options.LocalAddress);
        var stackDefaults = new NetStackOptions();
        StackOptions = new NetStackOptions
        {
            Mtu = Options.Mtu,
            ReceiveBufferSize = Options.TcpBufferSize,
            SendBufferSize = Options.TcpBufferSize,
            MaxHalfOpenConnections = Options.MaxPendingConnects,
            // The member side of a flow runs over the VPN's ordered, reliable streams, where the old duplicates TIME_WAIT
            // guards against hardly occur; and every connection in a stack costs a look per timer tick. Short, so a
            // member that opens many short flows does not leave thousands of them behind.
            TimeWaitDuration = TcpTimeWait,
        };
        _reassembly = new Ipv4Reassembler(stackDefaults.MaxReassemblyDatagrams, stackDefaults.MaxReassemblyBytes,
            (long)stackDefaults.ReassemblyTimeout.TotalMilliseconds);
        _synGate = new HeldSyns();
    }

    /// <summary>The options the egress was created with (do not change them once started).</summary>
    public RootlessEgressOptions Options { get; }

    internal TimeProvider Time { get; }

    internal ILogger Logger => _logger;

    /// <summary>The options of every destination stack.</summary>
    internal NetStackOptions StackOptions { get; }

    /// <summary>Packets whose processing threw (a bug: every malformed input must be dropped before that). Tests watch it.</summary>
    internal long InternalErrors => Interlocked.Read(ref _internalErrors);

    private long _internalErrors;

    private long NowMs => (long)Time.GetElapsedTime(_startTimestamp).TotalMilliseconds;

    /// <summary>Starts reading the device, and the timers that close idle flows.</summary>
    /// <exception cref="InvalidOperationException">Already started.</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_readLoop is not null)
            {
                throw new InvalidOperationException("The egress is already started.");
            }
            // The device's reads may block in the kernel (a TUN device polls): the read loop gets its own thread.
            _readLoop = Task.Factory.StartNew(() => ReadLoopAsync(_stopping.Token), CancellationToken.None,
                TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
            _maintenanceLoop = MaintenanceLoopAsync(_stopping.Token);
        }
        EgressLog.Started(_logger, Options.Mtu, Options.LocalAddress?.ToString() ?? "none");
        return Task.CompletedTask;
    }

    /// <summary>A snapshot of the counters.</summary>
    public RootlessEgressStatistics GetStatistics()
    {
        int tcpOpen;
        int udpOpen;
        int destinations;
        lock (_lock)
        {
            tcpOpen = _tcpFlows.Count;
            udpOpen = _udpFlows.Count;
            destinations = _destinations.Count;
        }
        var drops = new Dictionary<RootlessEgressDropReason, long>();
        foreach (var reason in Enum.GetValues<RootlessEgressDropReason>())
        {
            long n = Interlocked.Read(ref _drops[(int)reason]);
            if (n > 0)
            {
                drops[reason] = n;
            }
        }
        return new RootlessEgressStatistics(Interlocked.Read(ref _packetsReceived), tcpOpen, Interlocked.Read(ref _tcpFlowsTotal),
            Interlocked.Read(ref _connectFailures), destinations, udpOpen, Interlocked.Read(ref _udpFlowsTotal),
            Interlocked.Read(ref _pingsAnswered), Interlocked.Read(ref _pingsUnanswered), Interlocked.Read(ref _bytesToInternet),
            Interlocked.Read(ref _bytesFromInternet), drops);
    }

    /// <summary>Stops: the read loop ends, every TCP flow is reset on both sides, every UDP socket closes, in-flight pings
    /// are cancelled, and every loop is awaited. The device is not disposed.</summary>
    public async ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var loop in new[] { _readLoop, _maintenanceLoop })
        {
            if (loop is not null)
            {
                try
                {
                    await loop.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            }
        }
        TcpEgressFlow[] tcp;
        UdpEgressFlow[] udp;
        lock (_lock)
        {
            tcp = [.. _tcpFlows.Values];
            udp = [.. _udpFlows.Values];
        }
        foreach (var flow in tcp)
        {
            flow.Abort();
        }
        foreach (var flow in udp)
        {
            flow.Dispose();
        }
        // Every flow task ends promptly once cancelled; the bound only guards against a socket call that ignores it.
        await _tasks.WhenAllAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        DestinationStack[] destinations;
        lock (_lock)
        {
            destinations = [.. _destinations.Values];
            _destinations.Clear();
            _udpFlows.Clear();
            _tcpFlows.Clear();
        }
        foreach (var destination in destinations)
        {
            await destination.DisposeAsync().ConfigureAwait(false);
        }
        lock (_reassembly)
        {
            _reassembly.Clear();
        }
        EgressLog.Stopped(_logger, tcp.Length, udp.Length);
        _stopping.Dispose();
    }

    internal void CountBytesOut(long count) => Interlocked.Add(ref _bytesToInternet, count);

    internal void CountBytesIn(long count) => Interlocked.Add(ref _bytesFromInternet, count);

    private void Drop(RootlessEgressDropReason reason)
    {
        Interlocked.Increment(ref _drops[(int)reason]);
        EgressLog.Dropped(_logger, reason);
    }

    private ushort NextIpId() => (ushort)Interlocked.Increment(ref _ipId);

    /// <summary>Writes one packet into the VPN; a failed write loses the packet (as a link would), logged.</summary>
    private async ValueTask WriteToVpnAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken)
    {
        try
        {
            await _device.WritePacketAsync(packet, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
#pragma warning disable CA1031 // a device that fails one write loses that packet; the flows recover or time out
        catch (Exception e)
#pragma warning restore CA1031
        {
            EgressLog.DeviceWriteFailed(_logger, e.Message);
        }
    }

    /// <summary>Writes a whole IPv4 packet we built (20-byte header, DF clear) into the VPN, in fragments if it exceeds
    /// the MTU.</summary>
    private async ValueTask WriteFragmentedAsync(byte[] packet, int length, CancellationToken cancellationToken)
    {
        int count = EgressPackets.FragmentCount(length, Options.Mtu);
        if (count == 1)
        {
            await WriteToVpnAsync(packet.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            return;
        }
        byte[] fragment = ArrayPool<byte>.Shared.Rent(Options.Mtu);
        try
        {
            for (int i = 0; i < count; i++)
            {
                int n = EgressPackets.WriteFragment(packet.AsSpan(0, length), i, Options.Mtu, fragment);
                await WriteToVpnAsync(fragment.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(fragment);
        }
    }

    private async Task ReadLoopAsync(CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[65536];
        while (!cancellationToken.IsCancellationRequested)
        {
            int length;
            try
            {
                length = await _device.ReadPacketAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
#pragma warning disable CA1031 // the device is gone: stop reading, say why
            catch (Exception e)
#pragma warning restore CA1031
            {
                EgressLog.DeviceReadFailed(_logger, e.Message);
                return;
            }
            if (length <= 0)
            {
                return;
            }
            Interlocked.Increment(ref _packetsReceived);
            try
            {
                await ReceiveAsync(buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // a packet that trips a bug is dropped, never the loop
            catch (Exception e)
#pragma warning restore CA1031
            {
                Interlocked.Increment(ref _internalErrors);
                EgressLog.PacketFailed(_logger, e, e.Message);
                Drop(RootlessEgressDropReason.Malformed);
            }
        }
    }

    /// <summary>Validates one packet from the VPN, reassembles fragments, and hands it to its protocol.</summary>
    private async ValueTask ReceiveAsync(Memory<byte> packet, CancellationToken cancellationToken)
    {
        if (!IpPacket.TryParse(packet.Span, out var ip, out var reason))
        {
            Drop(reason switch
            {
                DropReason.BadChecksum => RootlessEgressDropReason.BadChecksum,
                DropReason.UnsupportedVersion => RootlessEgressDropReason.UnsupportedVersion,
                _ => RootlessEgressDropReason.Malformed,
            });
            return;
        }
        packet = packet[..ip.TotalLength];
        if (!ip.IsFragment)
        {
            await ReceiveDatagramAsync(packet, ip, cancellationToken).ConfigureAwait(false);
            return;
        }
        FragmentOutcome outcome;
        byte[]? datagram;
        int length;
        lock (_reassembly)
        {
            outcome = _reassembly.Add(packet.Span, ip, NowMs, out datagram, out length);
        }
        if (outcome == FragmentOutcome.Dropped)
        {
            Drop(RootlessEgressDropReason.Fragment);
        }
        if (outcome != FragmentOutcome.Complete)
        {
            return;
        }
        try
        {
            if (!IpPacket.TryParse(datagram.AsSpan(0, length), out var whole, out _))
            {
                Drop(RootlessEgressDropReason.Fragment);
                return;
            }
            await ReceiveDatagramAsync(datagram.AsMemory(0, whole.TotalLength), whole, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(datagram!);
        }
    }

    private ValueTask ReceiveDatagramAsync(Memory<byte> packet, in IpPacket ip, CancellationToken cancellationToken)
    {
        switch (ip.Protocol)
        {
            case IpPacket.ProtocolTcp:
                return ReceiveTcpAsync(packet, ip);
            case IpPacket.ProtocolUdp:
                return ReceiveUdpAsync(packet, ip, cancellationToken);
            case IpPacket.ProtocolIcmp:
                return ReceiveIcmpAsync(packet, ip, cancellationToken);
            default:
                Drop(RootlessEgressDropReason.UnsupportedProtocol);
                return ValueTask.CompletedTask;
        }
    }

    /// <summary>Closes idle flows and destinations, and expires fragments, a few times per shortest idle timeout.</summary>
    private async Task MaintenanceLoopAsync(CancellationToken cancellationToken)
    {
        var shortest = new[] { Options.UdpIdleTimeout, Options.TcpIdleTimeout, Options.DestinationIdleTimeout }.Min();
        var period = TimeSpan.FromTicks(Math.Clamp(shortest.Ticks / 4, TimeSpan.TicksPerMillisecond * 10, TimeSpan.TicksPerSecond));
        while (true)
        {
            try
            {
                await Task.Delay(period, Time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                await SweepAsync().ConfigureAwait(false);
            }
#pragma warning disable CA1031 // a sweep that trips a bug is logged; the next one tries again
            catch (Exception e)
#pragma warning restore CA1031
            {
                Interlocked.Increment(ref _internalErrors);
                EgressLog.PacketFailed(_logger, e, "sweep: " + e.Message);
            }
        }
    }

    private async ValueTask SweepAsync()
    {
        List<UdpEgressFlow>? idleUdp = null;
        List<TcpEgressFlow>? idleTcp = null;
        List<DestinationStack>? idleDestinations = null;
        lock (_lock)
        {
            foreach (var flow in _udpFlows.Values)
            {
                if (flow.Idle >= Options.UdpIdleTimeout)
                {
                    (idleUdp ??= []).Add(flow);
                }
            }
            foreach (var flow in idleUdp ?? [])
            {
                _udpFlows.Remove(flow.Key);
            }
            foreach (var flow in _tcpFlows.Values)
            {
                if (flow.IsOpen && flow.Idle >= Options.TcpIdleTimeout)
                {
                    (idleTcp ??= []).Add(flow);
                }
            }
            foreach (var destination in _destinations.Values)
            {
                if (IsIdle(destination, Options.DestinationIdleTimeout))
                {
                    (idleDestinations ??= []).Add(destination);
                }
            }
            foreach (var destination in idleDestinations ?? [])
            {
                _destinations.Remove(destination.Address);
            }
        }
        foreach (var flow in idleUdp ?? [])
        {
            flow.Dispose();
        }
        foreach (var flow in idleTcp ?? [])
        {
            flow.Abort();
        }
        foreach (var destination in idleDestinations ?? [])
        {
            await destination.DisposeAsync().ConfigureAwait(false);
        }
        lock (_reassembly)
        {
            _reassembly.Expire(NowMs);
        }
    }
}
