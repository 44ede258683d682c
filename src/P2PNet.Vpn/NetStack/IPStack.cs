using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.NetStack;

/// <summary>
/// A user-space TCP/IP stack on an <see cref="IPacketDevice"/>: IPv4 with ICMP echo and port-unreachable, UDP sockets
/// and TCP per RFC 9293 (window scaling, timestamps, SACK, RFC 6298 RTO, NewReno/CUBIC, RFC 5961 hardening). It owns
/// one address on the device's link; packets to other addresses are dropped.
/// </summary>
/// <remarks>
/// <para>Call <see cref="StartAsync"/> to start reading the device; <see cref="DisposeAsync"/> stops, aborts every
/// connection and disposes the device only if <c>ownsDevice</c> was set. All members are thread-safe: the stack keeps its
/// state under one lock, and packets it produces are written to the device outside it, in order.</para>
/// <para>The device must hand over whole, validated-length IP packets (as <see cref="Tun.TunDevice"/> and
/// <see cref="UserSpacePacketDevice"/> do). IPv4 fragments addressed to the stack are reassembled within the bounds of
/// <see cref="NetStackOptions.MaxReassemblyDatagrams"/>, <see cref="NetStackOptions.MaxReassemblyBytes"/> and
/// <see cref="NetStackOptions.ReassemblyTimeout"/>; overlapping fragments drop their datagram. The stack does not fragment
/// what it sends: an echo reply that would exceed the MTU is not sent.</para>
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711", Justification = "A TCP/IP stack is the domain's name for it (issue 17).")]
public sealed partial class IPStack : IAsyncDisposable
{
    private const ushort FirstEphemeralPort = 49152;

    private readonly IPacketDevice _device;
    private readonly IOffloadPacketDevice? _offloadDevice;
    private readonly IPacketBatchSource? _batchSource;
    private readonly List<TcpConnection> _deferredAcks = [];
    private readonly bool _ownsDevice;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Dictionary<ulong, TcpConnection> _connections = [];
    private readonly Dictionary<ushort, TcpPortListener> _listeners = [];
    private TcpPortListener? _anyListener;
    private readonly Dictionary<ushort, UdpSocket> _udpSockets = [];
    private readonly Queue<(byte[] Buffer, int Length, PacketOffload Offload)> _outbox = new();
    private readonly List<TcpConnection> _timerScratch = [];
    private readonly AsyncSignal _timerWake = new();
    private long _timerDueAt = long.MaxValue;
    private long _armedWhileTicking = long.MaxValue;
    private readonly long _startTimestamp;
    private Task? _readLoop;
    private Task? _timerLoop;
    private bool _flushing;
    private Task? _backgroundFlush;
    private bool _disposed;
    private ushort _nextEphemeralPort = FirstEphemeralPort;
    private ushort _ipId;
    private int _halfOpen;
    private long _icmpTokensAtMs = -1;
    private long _icmpTokens; // in thousandths of an ICMP error

    /// <summary>Creates a stack owning <paramref name="address"/> on <paramref name="device"/>.</summary>
    /// <param name="device">Where packets go and come from (already configured).</param>
    /// <param name="address">The stack's own IPv4 address.</param>
    /// <param name="options">Limits and timers; defaults when null.</param>
    /// <param name="ownsDevice">Dispose the device with the stack.</param>
    /// <param name="loggerFactory">Logging; none when null.</param>
    /// <param name="meterFactory">Metrics (meter <c>P2PNet.Vpn.NetStack</c>); a private meter when null.</param>
    /// <param name="timeProvider">The clock for every timer; <see cref="TimeProvider.System"/> when null.</param>
    public IPStack(IPacketDevice device, IPAddress address, NetStackOptions? options = null, bool ownsDevice = false,
        ILoggerFactory? loggerFactory = null, IMeterFactory? meterFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException("The stack speaks IPv4 for now: give it an IPv4 address.", nameof(address));
        }
        Options = options ?? new NetStackOptions();
        Options.Validate();
        _device = device;
        // A device that offloads is read and written through its offload methods only (its IPacketDevice ones may not
        // work); TSO on send is then the options' choice.
        _offloadDevice = device is IOffloadPacketDevice { OffloadEnabled: true } offloading ? offloading : null;
        _batchSource = device as IPacketBatchSource;
        SegmentationOffload = Options.SegmentationOffload && _offloadDevice is not null;
        _ownsDevice = ownsDevice;
        Address = address;
        AddressValue = BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());
        _logger = loggerFactory?.CreateLogger<IPStack>() ?? (ILogger)NullLogger.Instance;
        Metrics = new NetStackMetrics(meterFactory);
        Time = timeProvider ?? TimeProvider.System;
        _startTimestamp = Time.GetTimestamp();
        Reassembly = new Ipv4Reassembler(Options.MaxReassemblyDatagrams, Options.MaxReassemblyBytes,
            (long)Options.ReassemblyTimeout.TotalMilliseconds, Metrics);
    }

    /// <summary>The stack's own address.</summary>
    public IPAddress Address { get; }

    /// <summary>The options the stack was created with (do not change them once started).</summary>
    public NetStackOptions Options { get; }

    /// <summary>TCP connections the stack holds, in any state (TIME_WAIT included).</summary>
    public int ConnectionCount
    {
        get
        {
            lock (Gate)
            {
                return _connections.Count;
            }
        }
    }

    /// <summary>Incoming packets dropped (malformed, bad checksum, not for this stack, no socket, queue full, SYN flood).</summary>
    public long PacketsDropped => Interlocked.Read(ref _packetsDropped);

    private long _packetsDropped;

    internal object Gate { get; } = new();

    /// <summary>Packets whose processing threw (a bug: every malformed input must be dropped before that). Tests watch it.</summary>
    internal long InternalErrors { get; private set; }

    internal uint AddressValue { get; }

    internal NetStackMetrics Metrics { get; }

    /// <summary>Fragments being reassembled (under the lock); tests read its counters.</summary>
    internal Ipv4Reassembler Reassembly { get; }

    internal TimeProvider Time { get; }

    internal ILogger Logger => _logger;

    internal CancellationToken Stopping => _stopping.Token;

    /// <summary>Milliseconds since the stack was created (the clock of every TCP timer and timestamp).</summary>
    internal long NowMs => (long)Time.GetElapsedTime(_startTimestamp).TotalMilliseconds;

    /// <summary>Starts reading the device and the timers.</summary>
    /// <exception cref="InvalidOperationException">Already started.</exception>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_readLoop is not null)
        {
            throw new InvalidOperationException("The stack is already started.");
        }
        // The device's reads may block in the kernel (TunDevice polls): the read loop gets its own thread.
        _readLoop = Task.Factory.StartNew(() => ReadLoopAsync(_stopping.Token), CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        _timerLoop = TimerLoopAsync(_stopping.Token);
        NetStackLog.Started(_logger, Address, Options.Mtu);
        return Task.CompletedTask;
    }

    /// <summary>Listens for TCP connections on <paramref name="port"/>.</summary>
    /// <param name="port">1–65535.</param>
    /// <param name="backlog">Connections handshaken but not yet accepted, at most; 0 takes <see cref="NetStackOptions.ListenBacklog"/>.
    /// SYNs beyond it are dropped (the peer retries), as Linux does when its accept queue overflows.</param>
    /// <exception cref="InvalidOperationException">The port already has a listener.</exception>
    public TcpPortListener ListenTcp(int port, int backlog = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        ArgumentOutOfRangeException.ThrowIfNegative(backlog);
        lock (Gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_listeners.ContainsKey((ushort)port))
            {
                throw new InvalidOperationException($"TCP port {port} already has a listener.");
            }
            var listener = new TcpPortListener(this, (ushort)port, backlog == 0 ? Options.ListenBacklog : backlog);
            _listeners.Add((ushort)port, listener);
            return listener;
        }
    }

    /// <summary>Listens for TCP connections on every port no <see cref="ListenTcp"/> listener holds, and lets
    /// <paramref name="gate"/> decide when each SYN is answered: the stack hands it every new SYN (after its checksum and
    /// the half-open bound) and does nothing more until the gate calls <see cref="AcceptSyn"/> or <see cref="RefuseSyn"/>.
    /// A gateway uses it to answer a SYN only once the connection it stands for is made elsewhere. Connections accepted
    /// this way are not queued on the listener: <see cref="AcceptSyn"/> returns them.</summary>
    /// <exception cref="InvalidOperationException">The stack already has a wildcard listener.</exception>
    internal TcpPortListener ListenTcpAny(ITcpSynGate gate)
    {
        ArgumentNullException.ThrowIfNull(gate);
        lock (Gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_anyListener is not null)
            {
                throw new InvalidOperationException("The stack already listens on every port.");
            }
            _anyListener = new TcpPortListener(this, 0, Options.MaxHalfOpenConnections, gate);
            return _anyListener;
        }
    }

    /// <summary>Answers a SYN a gate held (<see cref="ListenTcpAny"/>) with SYN-ACK: the connection starts in SYN-RECEIVED
    /// and completes <see cref="TcpConnection.Connected"/> with the peer's ACK.</summary>
    /// <returns>The connection, or null when the listener or stack is gone, the pair is taken by now or the half-open
    /// bound is reached (the SYN is then dropped; the peer retries it).</returns>
    internal TcpConnection? AcceptSyn(TcpPortListener listener, uint remote, in TcpSegment syn)
    {
        TcpConnection connection;
        lock (Gate)
        {
            ulong key = ConnectionKey(remote, syn.SourcePort, syn.DestinationPort);
            if (_disposed || _anyListener != listener || _connections.ContainsKey(key)
                || _halfOpen >= Options.MaxHalfOpenConnections || !listener.HasRoom)
            {
                return null;
            }
            connection = new TcpConnection(this, remote, syn.SourcePort, syn.DestinationPort, listener);
            _connections.Add(key, connection);
            Metrics.ConnectionOpened();
            connection.StartAccept(syn);
        }
        FlushSoon();
        return connection;
    }

    /// <summary>Answers a SYN a gate held (<see cref="ListenTcpAny"/>) with RST+ACK, as a host without a listener on
    /// the port does (RFC 9293 §3.10.7.1): the peer's connect fails as refused.</summary>
    internal void RefuseSyn(uint remote, in TcpSegment syn)
    {
        lock (Gate)
        {
            if (_disposed || _connections.ContainsKey(ConnectionKey(remote, syn.SourcePort, syn.DestinationPort)))
            {
                return;
            }
            SendReset(remote, syn.SourcePort, syn.DestinationPort, 0, syn.SequenceNumber + 1, TcpFlags.Rst | TcpFlags.Ack);
        }
        FlushSoon();
    }

    /// <summary>Opens a TCP connection to <paramref name="address"/>:<paramref name="port"/> from an ephemeral port.</summary>
    /// <returns>The established connection.</returns>
    /// <exception cref="TcpConnectionException">Refused (<see cref="TcpError.ConnectionRefused"/>) or no answer
    /// (<see cref="TcpError.TimedOut"/>).</exception>
    public async Task<TcpConnection> ConnectTcpAsync(IPAddress address, int port, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException("The stack speaks IPv4 for now.", nameof(address));
        }
        uint remote = BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());
        TcpConnection connection;
        lock (Gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ushort local = AllocateEphemeralPort(remote, (ushort)port);
            connection = new TcpConnection(this, remote, (ushort)port, local, listener: null);
            _connections.Add(connection.Key, connection);
            Metrics.ConnectionOpened();
            connection.StartConnect();
        }
        await FlushAsync().ConfigureAwait(false);
        try
        {
            await connection.Connected.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            connection.Abort();
            throw;
        }
        return connection;
    }

    /// <summary>Binds a UDP socket to <paramref name="port"/> (0 picks an ephemeral port).</summary>
    /// <exception cref="InvalidOperationException">The port is taken.</exception>
    public UdpSocket BindUdp(int port = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        lock (Gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (port == 0)
            {
                for (int tries = 0; tries < 16384; tries++)
                {
                    ushort candidate = NextEphemeral();
                    if (!_udpSockets.ContainsKey(candidate))
                    {
                        port = candidate;
                        break;
                    }
                }
                if (port == 0)
                {
                    throw new InvalidOperationException("No free UDP port is left.");
                }
            }
            if (_udpSockets.ContainsKey((ushort)port))
            {
                throw new InvalidOperationException($"UDP port {port} is taken.");
            }
            var socket = new UdpSocket(this, (ushort)port, Options.UdpReceiveQueue);
            _udpSockets.Add((ushort)port, socket);
            return socket;
        }
    }

    /// <summary>Stops the stack: listeners and UDP sockets close, connections are aborted (a reset goes to each peer).</summary>
    public async ValueTask DisposeAsync()
    {
        TcpConnection[] connections;
        TcpPortListener[] listeners;
        UdpSocket[] sockets;
        lock (Gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            connections = [.. _connections.Values];
            listeners = _anyListener is null ? [.. _listeners.Values] : [.. _listeners.Values, _anyListener];
            sockets = [.. _udpSockets.Values];
        }
        foreach (var listener in listeners)
        {
            listener.Dispose();
        }
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }
        foreach (var connection in connections)
        {
            connection.Abort();
        }
        await FlushAsync().ConfigureAwait(false);
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var loop in new[] { _readLoop, _timerLoop, _backgroundFlush })
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
        if (_ownsDevice)
        {
            await _device.DisposeAsync().ConfigureAwait(false);
        }
        lock (Gate)
        {
            Reassembly.Clear();
        }
        Metrics.Dispose();
        _stopping.Dispose();
    }

    internal void RemoveListener(TcpPortListener listener)
    {
        if (listener == _anyListener)
        {
            _anyListener = null;
            return;
        }
        if (_listeners.TryGetValue((ushort)listener.Port, out var current) && current == listener)
        {
            _listeners.Remove((ushort)listener.Port);
        }
    }

    internal void RemoveUdpSocket(UdpSocket socket)
    {
        if (_udpSockets.TryGetValue((ushort)socket.Port, out var current) && current == socket)
        {
            _udpSockets.Remove((ushort)socket.Port);
        }
    }

    /// <summary>Forgets a connection that reached CLOSED (under the lock).</summary>
    internal void RemoveConnection(TcpConnection connection)
    {
        if (_connections.TryGetValue(connection.Key, out var current) && current == connection)
        {
            _connections.Remove(connection.Key);
            Metrics.ConnectionClosed();
        }
    }

    internal void HalfOpenChanged(int delta) => _halfOpen += delta;

    internal void CountDrop(DropReason reason)
    {
        Interlocked.Increment(ref _packetsDropped);
        Metrics.Dropped(reason);
    }

    internal static ulong ConnectionKey(uint remoteAddress, ushort remotePort, ushort localPort) =>
        ((ulong)remoteAddress << 32) | ((ulong)remotePort << 16) | localPort;

    internal static IPAddress ToAddress(uint address)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, address);
        return new IPAddress(bytes);
    }

    private ushort NextEphemeral()
    {
        ushort port = _nextEphemeralPort;
        _nextEphemeralPort = _nextEphemeralPort == ushort.MaxValue ? FirstEphemeralPort : (ushort)(_nextEphemeralPort + 1);
        return port;
    }

    private ushort AllocateEphemeralPort(uint remote, ushort remotePort)
    {
        for (int tries = 0; tries <= ushort.MaxValue - FirstEphemeralPort; tries++)
        {
            ushort candidate = NextEphemeral();
            if (!_listeners.ContainsKey(candidate) && !_connections.ContainsKey(ConnectionKey(remote, remotePort, candidate)))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException("No free ephemeral TCP port is left towards that address and port.");
    }

    /// <summary>A packet buffer of <paramref name="length"/> bytes from the pool; hand it to <see cref="Enqueue"/>.</summary>
    internal static byte[] RentPacket(int length) => ArrayPool<byte>.Shared.Rent(length);

    /// <summary>Queues a finished packet for the device (under the lock); <see cref="FlushAsync"/> writes it.</summary>
    internal void Enqueue(byte[] buffer, int length) => _outbox.Enqueue((buffer, length, default));

    /// <summary>Queues a TCP super-packet for a device that segments it (<see cref="SegmentationOffload"/>).</summary>
    internal void EnqueueOffloaded(byte[] buffer, int length, in PacketOffload offload) => _outbox.Enqueue((buffer, length, offload));

    /// <summary>Whether TCP may hand the device super-packets to segment (the device offloads, and the options allow).</summary>
    internal bool SegmentationOffload { get; }

    internal ushort NextIpId() => _ipId++;

    /// <summary>Writes queued packets to the device, outside the lock and in order. One caller writes at a time; a caller
    /// that finds another writing leaves its packets to it.</summary>
    internal ValueTask FlushAsync()
    {
        lock (Gate)
        {
            if (_flushing || _outbox.Count == 0)
            {
                return ValueTask.CompletedTask;
            }
            _flushing = true;
        }
        return FlushCoreAsync();
    }

    /// <summary>Flushes without waiting: the flush finishes at once with a synchronous device; otherwise the stack keeps
    /// the flush and awaits it on disposal.</summary>
    internal void FlushSoon()
    {
        var flush = FlushAsync();
        if (flush.IsCompleted)
        {
            flush.GetAwaiter().GetResult();
            return;
        }
        lock (Gate)
        {
            _backgroundFlush = flush.AsTask();
        }
    }

    private async ValueTask FlushCoreAsync()
    {
        while (true)
        {
            byte[] buffer;
            int length;
            PacketOffload offload;
            lock (Gate)
            {
                if (!_outbox.TryDequeue(out var item))
                {
                    _flushing = false;
                    return;
                }
                (buffer, length, offload) = item;
            }
            try
            {
                var write = _offloadDevice is null
                    ? _device.WritePacketAsync(buffer.AsMemory(0, length), CancellationToken.None)
                    : _offloadDevice.WriteOffloadedAsync(new ReadOnlySequence<byte>(buffer, 0, length), offload, CancellationToken.None);
                if (!write.IsCompletedSuccessfully)
                {
                    await write.ConfigureAwait(false);
                }
            }
#pragma warning disable CA1031 // a device that fails one write loses that packet, as a link would; TCP recovers it
            catch (Exception e)
#pragma warning restore CA1031
            {
                NetStackLog.DeviceWriteFailed(_logger, e.Message);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private async Task ReadLoopAsync(CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[65536];
        byte[]? segment = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            int length;
            PacketOffload offload = default;
            try
            {
                if (_offloadDevice is not null)
                {
                    (length, offload) = await _offloadDevice.ReadOffloadedAsync(buffer, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    length = await _device.ReadPacketAsync(buffer, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
#pragma warning disable CA1031 // the device is gone: stop reading, say why
            catch (Exception e)
#pragma warning restore CA1031
            {
                NetStackLog.DeviceReadFailed(_logger, e.Message);
                return;
            }
            if (length <= 0)
            {
                return;
            }
            // The rest of a burst, if the device says what is queued: ACKs wait until the burst is taken (at most
            // MaxBatch packets), so a burst of segments is acknowledged once, with the latest SACK blocks.
            SetDeferringAcks(_batchSource is not null);
            bool closed = false;
            try
            {
                for (int taken = 1; ; taken++)
                {
                    if (offload.IsComplete)
                    {
                        Receive(buffer.AsSpan(0, length));
                    }
                    else
                    {
                        ReceiveOffloaded(buffer.AsSpan(0, length), offload, ref segment);
                    }
                    if (_batchSource is null || taken == MaxBatch || !TryReadQueued(buffer, out length, out offload))
                    {
                        break;
                    }
                    if (length <= 0)
                    {
                        closed = true;
                        break;
                    }
                }
            }
#pragma warning disable CA1031 // the device failed between packets: what was read is answered, then the loop ends
            catch (Exception e)
#pragma warning restore CA1031
            {
                NetStackLog.DeviceReadFailed(_logger, e.Message);
                closed = true;
            }
            finally
            {
                SetDeferringAcks(false);
            }
            await FlushAsync().ConfigureAwait(false);
            if (closed)
            {
                return;
            }
        }
    }

    private const int MaxBatch = 64;

    private bool TryReadQueued(byte[] buffer, out int length, out PacketOffload offload)
    {
        offload = default;
        if (_offloadDevice is not null)
        {
            bool read = _batchSource!.TryReadOffloaded(buffer, out var packet);
            (length, offload) = (packet.Length, packet.Offload);
            return read;
        }
        return _batchSource!.TryReadPacket(buffer, out length);
    }

    /// <summary>Under the lock: whether a connection that owes an ACK leaves it to <see cref="SetDeferringAcks"/>(false).</summary>
    internal bool DeferringAcks { get; private set; }

    /// <summary>Under the lock: <paramref name="connection"/> owes an ACK at the end of the current burst.</summary>
    internal void AckAfterBurst(TcpConnection connection) => _deferredAcks.Add(connection);

    private void SetDeferringAcks(bool deferring)
    {
        lock (Gate)
        {
            DeferringAcks = deferring;
            if (deferring)
            {
                return;
            }
            foreach (var connection in _deferredAcks)
            {
                connection.SendDeferredAck();
            }
            _deferredAcks.Clear();
        }
    }

    /// <summary>A packet the device left unfinished (GRO's counterpart of <see cref="EnqueueOffloaded"/>): a TCP
    /// super-packet is taken whole, as one segment of many MSS (its checksum completed first), which is what makes the
    /// kernel's 64 KiB sends cheap to receive; anything else is cut into segments here.</summary>
    private void ReceiveOffloaded(Span<byte> packet, in PacketOffload offload, ref byte[]? segment)
    {
        if (!offload.IsValidFor(packet))
        {
            CountDrop(DropReason.Malformed);
            return;
        }
        try
        {
            ReceiveValidOffloaded(packet, offload, ref segment);
        }
#pragma warning disable CA1031 // as in Receive: a packet that trips a bug is dropped, never the read loop
        catch (Exception e)
#pragma warning restore CA1031
        {
            lock (Gate)
            {
                NetStackLog.PacketFailed(_logger, e, e.Message);
                InternalErrors++;
                CountDrop(DropReason.Malformed);
            }
        }
    }

    private void ReceiveValidOffloaded(Span<byte> packet, in PacketOffload offload, ref byte[]? segment)
    {
        if (offload.Segmentation is SegmentationKind.None or SegmentationKind.TcpV4 && offload.ChecksumPartial
            && packet.Length >= 20 && BinaryPrimitives.ReadUInt16BigEndian(packet[2..]) == packet.Length)
        {
            Segmenter.CompletePartialChecksum(packet, offload.ChecksumStart, offload.ChecksumOffset);
            Receive(packet, superPacket: offload.Segmentation != SegmentationKind.None);
            return;
        }
        segment ??= new byte[65536];
        for (int i = 0; i < Segmenter.SegmentCount(packet, offload); i++)
        {
            int length = Segmenter.WriteSegment(packet, offload, i, segment);
            Receive(segment.AsSpan(0, length));
        }
    }

    /// <summary>Ticks every <see cref="NetStackOptions.TimerInterval"/>, or sooner when a connection has a timer due
    /// sooner (a tail loss probe or a reordering timer two round trips away on a fast link), at most once a millisecond.</summary>
    private async Task TimerLoopAsync(CancellationToken cancellationToken)
    {
        long interval = Math.Max((long)Options.TimerInterval.TotalMilliseconds, 1);
        long next = NowMs + interval;
        while (!cancellationToken.IsCancellationRequested)
        {
            Task wake;
            long delay;
            lock (Gate)
            {
                long now = NowMs;
                next = Math.Min(next, _armedWhileTicking);
                _armedWhileTicking = long.MaxValue;
                delay = Math.Clamp(next - now, 1, interval);
                _timerDueAt = now + delay;
                wake = _timerWake.Task;
            }
            try
            {
                using var early = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var sleep = Task.Delay(TimeSpan.FromMilliseconds(delay), Time, early.Token);
                if (await Task.WhenAny(sleep, wake).ConfigureAwait(false) != sleep)
                {
                    await early.CancelAsync().ConfigureAwait(false); // no stray timer left armed
                }
                cancellationToken.ThrowIfCancellationRequested();
            }
            catch (OperationCanceledException)
            {
                return;
            }
            lock (Gate)
            {
                long now = NowMs;
                _timerDueAt = long.MaxValue; // ticking: a timer armed now is seen by the deadline scan below
                next = now + interval;
                _timerScratch.Clear();
                _timerScratch.AddRange(_connections.Values);
                foreach (var connection in _timerScratch)
                {
                    connection.OnTimer(now);
                    long due = connection.NextDeadline;
                    if (due >= 0 && due < next)
                    {
                        next = due;
                    }
                }
                _timerScratch.Clear();
                Reassembly.Expire(now);
            }
            await FlushAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Under the lock: a connection armed a timer due at <paramref name="dueMs"/>; wakes the timer loop early if
    /// it sleeps past that.</summary>
    internal void TimerArmed(long dueMs)
    {
        if (_timerDueAt == long.MaxValue)
        {
            _armedWhileTicking = Math.Min(_armedWhileTicking, dueMs); // the loop is not asleep: it takes this before it sleeps
        }
        else if (dueMs < _timerDueAt)
        {
            _timerDueAt = dueMs;
            _timerWake.Set();
        }
    }

    /// <summary>Processes one incoming packet. Never throws: whatever is wrong with the packet drops it.
    /// <paramref name="superPacket"/>: the device coalesced it (GRO), so it may exceed the MTU.</summary>
    internal void Receive(ReadOnlySpan<byte> packet, bool superPacket = false)
    {
        lock (Gate)
        {
            if (_disposed)
            {
                return;
            }
            try
            {
                ReceiveLocked(packet, superPacket);
            }
#pragma warning disable CA1031 // a packet that trips a bug in the stack is dropped, never the process
            catch (Exception e)
#pragma warning restore CA1031
            {
                NetStackLog.PacketFailed(_logger, e, e.Message);
                InternalErrors++;
                CountDrop(DropReason.Malformed);
            }
        }
    }

    private void ReceiveLocked(ReadOnlySpan<byte> packet, bool superPacket = false)
    {
        if (!IpPacket.TryParse(packet, out var ip, out var reason))
        {
            CountDrop(reason);
            return;
        }
        if (ip.Destination != AddressValue)
        {
            CountDrop(DropReason.NotForUs);
            return;
        }
        packet = packet[..ip.TotalLength];
        if (ip.TotalLength > Options.Mtu && ip.DontFragment && !superPacket)
        {
            // Larger than this link carries and not to be fragmented: the sender is told the MTU (RFC 1191 §4,
            // RFC 792 code 4), so its path MTU discovery settles on what the stack's link takes.
            CountDrop(DropReason.TooBig);
            SendIcmpError(packet, ip, type: 3, code: 4, nextHopMtu: (ushort)Math.Min(Options.Mtu, ushort.MaxValue));
            return;
        }
        if (ip.IsFragment)
        {
            ReceiveFragment(packet, ip);
            return;
        }
        switch (ip.Protocol)
        {
            case IpPacket.ProtocolTcp:
                ReceiveTcp(packet, ip);
                break;
            case IpPacket.ProtocolUdp:
                ReceiveUdp(packet, ip);
                break;
            case IpPacket.ProtocolIcmp:
                ReceiveIcmp(packet, ip);
                break;
            default:
                CountDrop(DropReason.UnsupportedProtocol);
                break;
        }
    }

    private void ReceiveFragment(ReadOnlySpan<byte> packet, in IpPacket ip)
    {
        switch (Reassembly.Add(packet, ip, NowMs, out byte[]? datagram, out int length))
        {
            case FragmentOutcome.Complete:
                try
                {
                    ReceiveLocked(datagram.AsSpan(0, length));
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(datagram!);
                }
                break;
            case FragmentOutcome.Dropped:
                CountDrop(DropReason.Fragment);
                break;
        }
    }
}
