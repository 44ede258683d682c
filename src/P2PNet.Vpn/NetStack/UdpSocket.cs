using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.NetStack;

/// <summary>A UDP port of an <see cref="IPStack"/> (<see cref="IPStack.BindUdp"/>): send to any address, receive from any.</summary>
/// <remarks>Thread-safe. Received datagrams wait in a bounded queue (<see cref="NetStackOptions.UdpReceiveQueue"/>);
/// when it is full, new ones are dropped.</remarks>
public sealed class UdpSocket : IDisposable
{
    private readonly IPStack _stack;
    private readonly Queue<(byte[] Buffer, int Length, uint Address, ushort Port)> _queue = new();
    private readonly int _capacity;
    private readonly AsyncSignal _arrived = new();
    private bool _disposed;

    internal UdpSocket(IPStack stack, ushort port, int capacity)
    {
        _stack = stack;
        Port = port;
        _capacity = capacity;
    }

    /// <summary>The bound port.</summary>
    public int Port { get; }

    /// <summary>Datagrams waiting to be received (tests read it).</summary>
    internal int QueuedCount
    {
        get
        {
            lock (_stack.Gate)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>The local end point.</summary>
    public IPEndPoint LocalEndPoint => new(_stack.Address, Port);

    /// <summary>Receives the next datagram into <paramref name="buffer"/>.</summary>
    /// <exception cref="ObjectDisposedException">The socket was disposed.</exception>
    public async ValueTask<UdpDatagram> ReceiveFromAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Task wait;
            lock (_stack.Gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_queue.TryDequeue(out var item))
                {
                    int length = Math.Min(item.Length, buffer.Length);
                    item.Buffer.AsSpan(0, length).CopyTo(buffer.Span);
                    ArrayPool<byte>.Shared.Return(item.Buffer);
                    return new UdpDatagram(length, new IPEndPoint(IPStack.ToAddress(item.Address), item.Port));
                }
                wait = _arrived.Task;
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Sends <paramref name="datagram"/> to <paramref name="remote"/>.</summary>
    /// <exception cref="ArgumentException">Larger than the MTU allows (MTU − 28 bytes), or not IPv4.</exception>
    public async ValueTask SendToAsync(ReadOnlyMemory<byte> datagram, IPEndPoint remote, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(remote);
        cancellationToken.ThrowIfCancellationRequested();
        if (remote.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException("The stack speaks IPv4 for now.", nameof(remote));
        }
        if (datagram.Length > _stack.Options.Mtu - 28)
        {
            throw new ArgumentException($"A datagram is at most {_stack.Options.Mtu - 28} bytes here (MTU {_stack.Options.Mtu}); fragmentation is not done.", nameof(datagram));
        }
        uint address = BinaryPrimitives.ReadUInt32BigEndian(remote.Address.GetAddressBytes());
        lock (_stack.Gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _stack.SendUdp((ushort)Port, address, (ushort)remote.Port, datagram.Span);
        }
        await _stack.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Queues an arrived datagram (under the lock); false when the queue is full.</summary>
    internal bool Deliver(uint source, ushort sourcePort, ReadOnlySpan<byte> payload)
    {
        if (_disposed || _queue.Count >= _capacity)
        {
            return false;
        }
        byte[] copy = ArrayPool<byte>.Shared.Rent(Math.Max(1, payload.Length));
        payload.CopyTo(copy);
        _queue.Enqueue((copy, payload.Length, source, sourcePort));
        _arrived.Set();
        return true;
    }

    /// <summary>Closes the port; waiting receives fail with <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        lock (_stack.Gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _stack.RemoveUdpSocket(this);
            while (_queue.TryDequeue(out var item))
            {
                ArrayPool<byte>.Shared.Return(item.Buffer);
            }
            _arrived.Set();
        }
    }
}
