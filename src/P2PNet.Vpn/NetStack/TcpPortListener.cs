using System.Net;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.NetStack;

/// <summary>A TCP port an <see cref="IPStack"/> listens on (<see cref="IPStack.ListenTcp"/>): handshaken connections
/// queue here until <see cref="AcceptAsync"/> takes them.</summary>
/// <remarks>Thread-safe. Disposing stops listening and resets the connections still queued.</remarks>
public sealed class TcpPortListener : IDisposable
{
    private readonly IPStack _stack;
    private readonly Queue<TcpConnection> _ready = new();
    private readonly AsyncSignal _changed = new();
    private int _halfOpen;
    private bool _disposed;

    internal TcpPortListener(IPStack stack, ushort port, int backlog, ITcpSynGate? synGate = null)
    {
        _stack = stack;
        Port = port;
        Backlog = backlog;
        SynGate = synGate;
    }

    /// <summary>Who answers SYNs (a wildcard listener of <see cref="IPStack.ListenTcpAny"/>); null answers at once.</summary>
    internal ITcpSynGate? SynGate { get; }

    /// <summary>The port listened on.</summary>
    public int Port { get; }

    /// <summary>Connections handshaking or waiting to be accepted, at most.</summary>
    public int Backlog { get; }

    /// <summary>The local end point (the stack's address and <see cref="Port"/>).</summary>
    public IPEndPoint LocalEndPoint => new(_stack.Address, Port);

    /// <summary>Established connections waiting for <see cref="AcceptAsync"/>.</summary>
    public int PendingCount
    {
        get
        {
            lock (_stack.Gate)
            {
                return _ready.Count;
            }
        }
    }

    internal bool HasRoom => !_disposed && _ready.Count + _halfOpen < Backlog;

    /// <summary>Waits for the next established connection.</summary>
    /// <exception cref="ObjectDisposedException">The listener (or its stack) was disposed.</exception>
    public async ValueTask<TcpConnection> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Task wait;
            lock (_stack.Gate)
            {
                if (_ready.TryDequeue(out var connection))
                {
                    return connection;
                }
                ObjectDisposedException.ThrowIf(_disposed, this);
                wait = _changed.Task;
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    internal void HalfOpenAdded() => _halfOpen++;

    /// <summary>A half-open connection completed its handshake (true) or died (false).</summary>
    internal void HalfOpenDone(TcpConnection connection, bool established)
    {
        _halfOpen--;
        if (established && SynGate is null)
        {
            if (_disposed)
            {
                connection.AbortLocked();
                return;
            }
            _ready.Enqueue(connection);
            _changed.Set();
        }
    }

    /// <summary>Stops listening; queued connections are reset.</summary>
    public void Dispose()
    {
        lock (_stack.Gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _stack.RemoveListener(this);
            while (_ready.TryDequeue(out var connection))
            {
                connection.AbortLocked();
            }
            _changed.Set();
        }
        // The resets are queued; the stack's timer flushes them within one tick.
    }
}
