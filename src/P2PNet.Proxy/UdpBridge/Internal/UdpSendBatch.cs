using System.Buffers;
using System.Net;
using System.Net.Sockets;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>
/// Datagrams on their way from one client's websocket to its UDP socket, collected while more messages are already
/// buffered and sent together: one <c>sendmmsg(2)</c> for the batch on Linux, one managed send each elsewhere.
/// </summary>
/// <remarks>
/// <para>Each message is received from the websocket straight into the batch's buffer, behind room for its
/// destination socket address, so a datagram is copied once (websocket → buffer) before the kernel takes it.</para>
/// <para>The buffer is rented while datagrams are in hand and returned by <see cref="Clear"/> with
/// <c>release</c>, so an idle client holds none. Used by the session's reader loop only; not thread-safe.</para>
/// </remarks>
internal sealed class UdpSendBatch
{
    /// <summary>Most datagrams in one batch (one system call).</summary>
    public const int MaxDatagrams = 32;

    // Room in front of each message for its destination: a sockaddr_in6 (28 bytes), kept 8-byte aligned.
    private const int AddressArea = 32;
    private const int PreferredBufferSize = 32 * 1024;

    private readonly Socket _socket;
    private readonly SocketAddress _address;
    private readonly int _messageLimit;
    private readonly int _bufferSize;
    private byte[]? _buffer;
    private Entry[]? _entries;
    private int _head;
    private int _count;
    private int _used;

    /// <param name="socket">The client's UDP socket.</param>
    /// <param name="messageLimit">Room to reserve for one websocket message (the longest valid frame and one byte).</param>
    /// <param name="useSystemCalls">Batch with <c>sendmmsg</c> (Linux only) rather than a managed send per datagram.</param>
    public UdpSendBatch(Socket socket, int messageLimit, bool useSystemCalls)
    {
        _socket = socket;
        _address = new SocketAddress(socket.AddressFamily);
        _messageLimit = messageLimit;
        _bufferSize = Math.Max(PreferredBufferSize, AddressArea + messageLimit);
        UsesSystemCalls = useSystemCalls && LinuxDatagrams.IsSupported;
    }

    /// <summary>Whether <see cref="TrySend"/> batches with <c>sendmmsg</c>.</summary>
    public bool UsesSystemCalls { get; }

    /// <summary>Datagrams sent with <c>sendmmsg</c>; with <see cref="ManagedSends"/>, says which path ran (for tests).</summary>
    public long SystemCallSends { get; private set; }

    /// <summary>Datagrams sent through the managed socket.</summary>
    public long ManagedSends { get; private set; }

    /// <summary>Datagrams added and not yet sent.</summary>
    public int Pending => _count - _head;

    /// <summary>Whether another message may not fit: send the batch before <see cref="NextMessageBuffer"/>.</summary>
    public bool IsFull => _count == MaxDatagrams || (_buffer is not null && _used + AddressArea + _messageLimit > _buffer.Length);

    /// <summary>
    /// Where to receive the next websocket message: room for the longest valid message. Rents the buffer if needed.
    /// </summary>
    public Memory<byte> NextMessageBuffer()
    {
        if (_count == 0)
        {
            _used = 0;
        }

        _buffer ??= ArrayPool<byte>.Shared.Rent(_bufferSize);
        _entries ??= ArrayPool<Entry>.Shared.Rent(MaxDatagrams);
        return _buffer.AsMemory(_used + AddressArea, _messageLimit);
    }

    /// <summary>
    /// The destination socket address of the message in <see cref="NextMessageBuffer"/>, preset with the socket's
    /// family; the caller writes port and address (the layout of <see cref="SocketAddress.Buffer"/>).
    /// </summary>
    public Span<byte> NextAddress()
    {
        Span<byte> area = _buffer.AsSpan(_used, _address.Size);
        _address.Buffer.Span[.._address.Size].CopyTo(area);
        return area;
    }

    /// <summary>Adds the message just received into <see cref="NextMessageBuffer"/> as a datagram to send.</summary>
    /// <param name="payloadStart">Where the payload starts in the message.</param>
    /// <param name="payloadLength">The payload's length.</param>
    public void Add(int payloadStart, int payloadLength)
    {
        int payloadOffset = _used + AddressArea + payloadStart;
        _entries![_count++] = new Entry(_used, payloadOffset, payloadLength);
        _used = (payloadOffset + payloadLength + 7) & ~7;
    }

    /// <summary>
    /// Sends pending datagrams from the first without waiting, as many as the socket takes (<c>sendmmsg</c>).
    /// </summary>
    /// <param name="bytes">Payload bytes sent.</param>
    /// <param name="error">When nothing was sent: <see cref="SocketError.WouldBlock"/> if the socket buffer is full
    /// (wait with <see cref="SendFirstAsync"/>), else why the first datagram failed (skip it with
    /// <see cref="SkipFirst"/>).</param>
    /// <returns>How many datagrams were sent.</returns>
    public unsafe int TrySend(out long bytes, out SocketError error)
    {
        int pending = Pending;
        LinuxDatagrams.MMsgHdr* messages = stackalloc LinuxDatagrams.MMsgHdr[pending];
        LinuxDatagrams.IoVec* vectors = stackalloc LinuxDatagrams.IoVec[pending];
        int sent;
        int errno;
        fixed (byte* buffer = _buffer)
        {
            for (int i = 0; i < pending; i++)
            {
                Entry entry = _entries![_head + i];
                vectors[i].Base = buffer + entry.PayloadOffset;
                vectors[i].Length = (nuint)entry.PayloadLength;
                messages[i] = default;
                messages[i].Header.Name = buffer + entry.AddressOffset;
                messages[i].Header.NameLength = (uint)_address.Size;
                messages[i].Header.Iov = vectors + i;
                messages[i].Header.IovLength = 1;
            }

            sent = LinuxDatagrams.Send(_socket, messages, pending, out errno);
        }

        bytes = 0;
        if (sent <= 0)
        {
            error = errno == LinuxDatagrams.EAgain ? SocketError.WouldBlock : LinuxDatagrams.ToException(errno, "sendmmsg").SocketErrorCode;
            return 0;
        }

        for (int i = 0; i < sent; i++)
        {
            bytes += _entries![_head + i].PayloadLength;
        }

        _head += sent;
        SystemCallSends += sent;
        error = SocketError.Success;
        return sent;
    }

    /// <summary>Sends the first pending datagram through the managed socket, waiting for room if need be.</summary>
    /// <returns>Its payload length.</returns>
    /// <exception cref="SocketException">The send failed; the datagram is no longer pending.</exception>
    public async ValueTask<int> SendFirstAsync()
    {
        Entry entry = _entries![_head++];
        ManagedSends++;
        _buffer.AsSpan(entry.AddressOffset, _address.Size).CopyTo(_address.Buffer.Span);
        await _socket.SendToAsync(_buffer.AsMemory(entry.PayloadOffset, entry.PayloadLength), SocketFlags.None, _address, CancellationToken.None)
            .ConfigureAwait(false);
        return entry.PayloadLength;
    }

    /// <summary>Gives up on the first pending datagram (its send failed).</summary>
    public void SkipFirst() => _head++;

    /// <summary>Forgets the sent datagrams; with <paramref name="release"/>, returns the buffers to the pool.</summary>
    /// <remarks>Without <paramref name="release"/> a message being received into <see cref="NextMessageBuffer"/> stays valid.</remarks>
    public void Clear(bool release)
    {
        _head = 0;
        _count = 0;
        if (release)
        {
            _used = 0;
            if (_buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                ArrayPool<Entry>.Shared.Return(_entries!);
                _buffer = null;
                _entries = null;
            }
        }
    }

    /// <summary>One pending datagram: where its destination address and payload are in the buffer.</summary>
    internal readonly record struct Entry(int AddressOffset, int PayloadOffset, int PayloadLength);
}
