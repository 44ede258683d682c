using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.NetStack;

/// <summary>
/// A TCP connection of an <see cref="IPStack"/>, from <see cref="IPStack.ConnectTcpAsync"/> or
/// <see cref="TcpPortListener.AcceptAsync"/>. Read and write it directly, as a <see cref="Stream"/>
/// (<see cref="GetStream"/>) or as an <see cref="IDuplexPipe"/> (<see cref="Transport"/>).
/// </summary>
/// <remarks>
/// <para>Half-close: <see cref="CompleteWrites"/> sends FIN after the buffered data; the peer's FIN makes reads return
/// 0 once the data before it is read. <see cref="Abort"/> sends RST and fails both directions at once. A peer's RST fails
/// pending and later reads and writes with <see cref="TcpConnectionException"/> (<see cref="TcpError.ConnectionReset"/>).</para>
/// <para>Thread-safety: one reader and one writer may run at the same time; every other member may be called from any
/// thread. <see cref="DisposeAsync"/> closes gracefully (FIN) when all received data was read, and resets otherwise, as
/// Linux does on close(2).</para>
/// </remarks>
public sealed partial class TcpConnection : IAsyncDisposable
{
    private readonly IPStack _stack;
    private readonly NetStackOptions _options;
    private readonly TcpPortListener? _listener;
    private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly AsyncSignal _readable = new();
    private readonly AsyncSignal _writable = new();
    private TcpConnectionStream? _stream;
    private IDuplexPipe? _transport;
    private TcpConnectionException? _error;
    private bool _disposed;

    internal TcpConnection(IPStack stack, uint remoteAddress, ushort remotePort, ushort localPort, TcpPortListener? listener)
    {
        _stack = stack;
        _options = stack.Options;
        _listener = listener;
        RemoteAddress = remoteAddress;
        RemotePort = remotePort;
        LocalPort = localPort;
        Key = IPStack.ConnectionKey(remoteAddress, remotePort, localPort);
        LocalEndPoint = new IPEndPoint(stack.Address, localPort);
        RemoteEndPoint = new IPEndPoint(IPStack.ToAddress(remoteAddress), remotePort);
        _sendCapacity = _options.SendBufferSize;
        _receiveCapacity = _options.ReceiveBufferSize;
        _cc = CreateCongestionControl(_options.Mtu - 40);
        _rtoMs = _options.InitialRetransmissionTimeout.TotalMilliseconds;
    }

    /// <summary>This side's address and port.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>The peer's address and port.</summary>
    public IPEndPoint RemoteEndPoint { get; }

    /// <summary>The connection's state (RFC 9293 §3.3.2).</summary>
    public TcpState State
    {
        get
        {
            lock (_stack.Gate)
            {
                return _state;
            }
        }
    }

    /// <summary>The connection as a duplex pipe. Completing <see cref="IDuplexPipe.Output"/> sends FIN
    /// (<see cref="CompleteWrites"/>); completing <see cref="IDuplexPipe.Input"/> stops reading.</summary>
    public IDuplexPipe Transport => _transport ??= new TcpConnectionPipe(this);

    internal ulong Key { get; }

    internal uint RemoteAddress { get; }

    internal ushort RemotePort { get; }

    internal ushort LocalPort { get; }

    internal uint ReceiveNext => _rcvNxt;

    internal Task Connected => _connected.Task;

    /// <summary>The connection as a <see cref="Stream"/> (one per connection). Disposing the stream disposes the connection.</summary>
    public Stream GetStream() => _stream ??= new TcpConnectionStream(this);

    /// <summary>A snapshot of the connection's counters and congestion state.</summary>
    public TcpConnectionStatistics GetStatistics()
    {
        lock (_stack.Gate)
        {
            return new TcpConnectionStatistics(_state, _bytesAcked, _bytesReceived, _segmentsSent, _segmentsReceived,
                _retransmits, _timeouts, _fastRetransmits, TimeSpan.FromMilliseconds(_srttMs), TimeSpan.FromMilliseconds(_rtoMs),
                _cc.Cwnd, _cc.Ssthresh, _mss, _wsOk, _tsOk, _sackOk, _lostRetransmits, _tailLossProbes, PathMtu);
        }
    }

    /// <summary>Reads received bytes into <paramref name="buffer"/>. An empty buffer waits until data (or the end of the
    /// stream) is there without taking any: a server can wait for many idle connections without a buffer for each.</summary>
    /// <returns>Bytes read; 0 once the peer closed its side (FIN) and everything before it was read.</returns>
    /// <exception cref="TcpConnectionException">The connection was reset, aborted or timed out.</exception>
    public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Task wait;
            int read;
            lock (_stack.Gate)
            {
                read = ReadLocked(buffer.Span);
                if (buffer.Length == 0 && (Readable > 0 || _finReceived || _error is not null || _state == TcpState.Closed))
                {
                    return 0; // a zero-byte read completes once data (or the end) is there, as with sockets
                }
                if (read == 0 && buffer.Length > 0)
                {
                    if (_finReceived && Readable == 0)
                    {
                        return 0;
                    }
                    if (_error is not null)
                    {
                        throw _error;
                    }
                    if (_state == TcpState.Closed)
                    {
                        return 0;
                    }
                }
                wait = _readable.Task;
            }
            if (read > 0)
            {
                await _stack.FlushAsync().ConfigureAwait(false);
                return read;
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Writes <paramref name="buffer"/>; completes when all of it is in the send buffer (not yet acknowledged).</summary>
    /// <exception cref="TcpConnectionException">The connection was reset, aborted or timed out.</exception>
    /// <exception cref="InvalidOperationException">Writes were completed (<see cref="CompleteWrites"/>).</exception>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Task wait;
            lock (_stack.Gate)
            {
                if (_error is not null)
                {
                    throw _error;
                }
                if (_finQueued || _state == TcpState.Closed)
                {
                    throw new InvalidOperationException("Writes on this connection were completed.");
                }
                int written = WriteLocked(buffer.Span);
                buffer = buffer[written..];
                if (written > 0)
                {
                    TrySend();
                }
                wait = _writable.Task;
            }
            await _stack.FlushAsync().ConfigureAwait(false);
            if (buffer.IsEmpty)
            {
                return;
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Closes this side for writing: FIN follows the buffered data. Reads go on until the peer closes.</summary>
    public void CompleteWrites()
    {
        lock (_stack.Gate)
        {
            CompleteWritesLocked();
        }
        FlushInBackground();
    }

    /// <summary>Resets the connection (RST): buffered data is discarded, reads and writes fail with
    /// <see cref="TcpError.ConnectionAborted"/>.</summary>
    public void Abort()
    {
        lock (_stack.Gate)
        {
            AbortLocked();
        }
        FlushInBackground();
    }

    /// <summary>Closes the connection: gracefully (FIN) when all received data was read, with a reset otherwise. The
    /// stack finishes the closing handshake on its own.</summary>
    public ValueTask DisposeAsync()
    {
        lock (_stack.Gate)
        {
            if (_disposed)
            {
                return ValueTask.CompletedTask;
            }
            _disposed = true;
            if (Readable > 0 || _oooCount > 0)
            {
                AbortLocked();
            }
            else
            {
                CompleteWritesLocked();
            }
        }
        return _stack.FlushAsync();
    }

    internal void CompleteWritesLocked()
    {
        if (_finQueued || _state is TcpState.Closed or TcpState.TimeWait)
        {
            return;
        }
        if (_state is TcpState.SynSent)
        {
            Terminate();
            return;
        }
        _finQueued = true;
        _state = _state switch
        {
            TcpState.Established or TcpState.SynReceived => TcpState.FinWait1,
            TcpState.CloseWait => TcpState.LastAck,
            _ => _state,
        };
        TrySend();
    }

    internal void AbortLocked()
    {
        if (_state is TcpState.Closed)
        {
            return;
        }
        if (_state is not (TcpState.SynSent or TcpState.TimeWait))
        {
            _stack.SendReset(RemoteAddress, RemotePort, LocalPort, _sndNxt, 0, TcpFlags.Rst);
        }
        Fail(TcpError.ConnectionAborted, "The connection was aborted locally.");
    }

    // The queued FIN/RST goes out now when the device takes it at once; otherwise the stack finishes the flush and
    // awaits it on disposal.
    private void FlushInBackground() => _stack.FlushSoon();

    private int Readable => (int)(RcvDataEnd - _rcvHeadSeq);

    private int ReadLocked(Span<byte> destination)
    {
        int count = Math.Min(destination.Length, Readable);
        if (count == 0)
        {
            return 0;
        }
        RingRead(_rcvBuf!, _receiveCapacity, _rcvHead, destination[..count]);
        _rcvHead = (_rcvHead + count) % _receiveCapacity;
        _rcvHeadSeq += (uint)count;
        ReleaseReceiveBufferIfEmpty();
        // RFC 9293 §3.8.6.2.2 (receiver SWS avoidance): announce a larger window once it grew by min(buffer/2, 2 MSS).
        if (_state is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2)
        {
            uint edge = _rcvNxt + (uint)AdvertisableWindow();
            if (Seq.Gt(edge, _rcvAdvEdge) && edge - _rcvAdvEdge >= Math.Min(_receiveCapacity / 2, 2 * _options.Mtu))
            {
                SendAck();
            }
        }
        return count;
    }

    private int WriteLocked(ReadOnlySpan<byte> source)
    {
        int count = Math.Min(source.Length, _sendCapacity - _sndLen);
        if (count == 0)
        {
            return 0;
        }
        _sndBuf ??= ArrayPool<byte>.Shared.Rent(_sendCapacity);
        RingWrite(_sndBuf, _sendCapacity, (_sndHead + _sndLen) % _sendCapacity, source[..count]);
        _sndLen += count;
        return count;
    }

    private static void RingWrite(byte[] ring, int capacity, int position, ReadOnlySpan<byte> data)
    {
        int first = Math.Min(data.Length, capacity - position);
        data[..first].CopyTo(ring.AsSpan(position));
        data[first..].CopyTo(ring);
    }

    private static void RingRead(byte[] ring, int capacity, int position, Span<byte> destination)
    {
        int first = Math.Min(destination.Length, capacity - position);
        ring.AsSpan(position, first).CopyTo(destination);
        ring.AsSpan(0, destination.Length - first).CopyTo(destination[first..]);
    }

    private void ReleaseReceiveBufferIfEmpty()
    {
        if (Readable == 0 && _oooCount == 0 && _rcvBuf is not null)
        {
            ArrayPool<byte>.Shared.Return(_rcvBuf);
            _rcvBuf = null;
            _rcvHead = 0;
        }
    }

    private void ReleaseSendBufferIfEmpty()
    {
        if (_sndLen == 0 && _sndBuf is not null)
        {
            ArrayPool<byte>.Shared.Return(_sndBuf);
            _sndBuf = null;
            _sndHead = 0;
        }
    }

    private CongestionControl CreateCongestionControl(int mss) => _options.CongestionControl == CongestionControlAlgorithm.NewReno
        ? new NewRenoCongestionControl(mss, _options.InitialCongestionWindow)
        : new CubicCongestionControl(mss, _options.InitialCongestionWindow);

    /// <summary>Fails the connection with <paramref name="error"/> and forgets it (under the lock).</summary>
    internal void Fail(TcpError error, string message)
    {
        _error ??= new TcpConnectionException(error, message);
        NetStackLog.ConnectionFailed(_stack.Logger, LocalEndPoint, RemoteEndPoint, error);
        _connected.TrySetException(_error);
        Terminate();
    }

    /// <summary>Moves to CLOSED: stops timers, returns buffers, wakes every waiter, leaves the stack's table.</summary>
    internal void Terminate()
    {
        if (_state == TcpState.Closed && _rcvBuf is null && _sndBuf is null)
        {
            _stack.RemoveConnection(this);
            return;
        }
        bool wasHalfOpen = _state == TcpState.SynReceived && _listener is not null && !_establishedOnce;
        _state = TcpState.Closed;
        _rtoAt = _delAckAt = _persistAt = _timeWaitAt = _probeAt = -1;
        _connected.TrySetException(_error ?? new TcpConnectionException(TcpError.ConnectionAborted, "The connection closed before it was established."));
        _ = _connected.Task.Exception; // observed: a failed connect is reported through ConnectTcpAsync
        if (wasHalfOpen)
        {
            _stack.HalfOpenChanged(-1);
            _listener!.HalfOpenDone(this, established: false);
        }
        if (_rcvBuf is not null && Readable == 0 || _error is not null)
        {
            if (_rcvBuf is not null)
            {
                ArrayPool<byte>.Shared.Return(_rcvBuf);
                _rcvBuf = null;
            }
            _rcvHeadSeq = RcvDataEnd;
            _oooCount = 0;
        }
        _sndLen = 0;
        ReleaseSendBufferIfEmpty();
        _readable.Set();
        _writable.Set();
        _stack.RemoveConnection(this);
    }
}
