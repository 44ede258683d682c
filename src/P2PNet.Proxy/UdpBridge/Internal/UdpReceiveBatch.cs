using System.Buffers;
using System.Net;
using System.Net.Sockets;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>
/// Datagrams drained from one client's UDP socket in one go: one <c>recvmmsg(2)</c> on Linux, managed receives while
/// <see cref="Socket.Available"/> says more are queued elsewhere.
/// </summary>
/// <remarks>
/// <para>Each slot of the buffer holds a source socket address, then <see cref="UdpBridgeFrame.MaxHeaderLength"/>
/// bytes of headroom, then the payload: the frame header is written in front of the payload in place, and the frame
/// goes to the websocket from there.</para>
/// <para>The buffer is rented for a burst and returned by <see cref="Release"/> before the session waits again, so an
/// idle client holds none. Used by the session's writer loop only; not thread-safe.</para>
/// </remarks>
internal sealed class UdpReceiveBatch
{
    /// <summary>Length recorded for a datagram the operating system reported as an ICMP error (connection reset).</summary>
    public const int Reset = -1;

    // Room for a sockaddr_in6 (28 bytes), kept 8-byte aligned.
    private const int AddressArea = 32;
    private const int PreferredBufferSize = 32 * 1024;
    private const int MaxSlots = 32;

    private readonly Socket _socket;
    private readonly SocketAddress _source;
    private readonly int _capacity;
    private readonly int _slotSize;
    private byte[]? _buffer;
    private int[]? _lengths;

    /// <param name="socket">The client's UDP socket.</param>
    /// <param name="maxDatagramSize">The largest payload relayed; one more byte is received to detect an oversize one.</param>
    /// <param name="useSystemCalls">Drain with <c>recvmmsg</c> (Linux only) rather than a managed receive per datagram.</param>
    public UdpReceiveBatch(Socket socket, int maxDatagramSize, bool useSystemCalls)
    {
        _socket = socket;
        _source = new SocketAddress(socket.AddressFamily);
        _capacity = maxDatagramSize + 1;
        _slotSize = (AddressArea + UdpBridgeFrame.MaxHeaderLength + _capacity + 7) & ~7;
        Slots = Math.Clamp(PreferredBufferSize / _slotSize, 1, MaxSlots);
        UsesSystemCalls = useSystemCalls && LinuxDatagrams.IsSupported;
    }

    /// <summary>Most datagrams one receive returns; a full batch means more may be queued.</summary>
    public int Slots { get; }

    /// <summary>Whether <see cref="ReceiveAsync"/> drains with <c>recvmmsg</c>.</summary>
    public bool UsesSystemCalls { get; }

    /// <summary>Receives made with <c>recvmmsg</c>; with <see cref="ManagedReceives"/>, says which path ran (for tests).</summary>
    public long SystemCallReceives { get; private set; }

    /// <summary>Receives made through the managed socket.</summary>
    public long ManagedReceives { get; private set; }

    /// <summary>The buffer holding the slots; valid until <see cref="Release"/>.</summary>
    public byte[] Buffer => _buffer!;

    /// <summary>
    /// Receives the datagrams queued now, up to <see cref="Slots"/>, after a peek said one is there.
    /// </summary>
    /// <returns>How many slots were filled (zero if none was queued after all).</returns>
    /// <exception cref="SocketException">The socket failed.</exception>
    public ValueTask<int> ReceiveAsync(CancellationToken cancellationToken)
    {
        _buffer ??= ArrayPool<byte>.Shared.Rent(Slots * _slotSize);
        _lengths ??= ArrayPool<int>.Shared.Rent(Slots);
        if (UsesSystemCalls)
        {
            SystemCallReceives++;
            return new ValueTask<int>(ReceiveQueued());
        }

        ManagedReceives++;
        return ReceiveManagedAsync(cancellationToken);
    }

    /// <summary>The source socket address of slot <paramref name="slot"/> (the layout of <see cref="SocketAddress.Buffer"/>).</summary>
    public ReadOnlySpan<byte> Source(int slot) => _buffer.AsSpan(slot * _slotSize, _source.Size);

    /// <summary>Where slot <paramref name="slot"/>'s payload starts; <see cref="UdpBridgeFrame.MaxHeaderLength"/> bytes before it are free.</summary>
    public int PayloadOffset(int slot) => (slot * _slotSize) + AddressArea + UdpBridgeFrame.MaxHeaderLength;

    /// <summary>
    /// Slot <paramref name="slot"/>'s payload length: more than the maximum datagram size for an oversize (truncated)
    /// datagram, <see cref="Reset"/> for an ICMP error report.
    /// </summary>
    public int Length(int slot) => _lengths![slot];

    /// <summary>Returns the buffers to the pool; call before waiting for more datagrams.</summary>
    public void Release()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            ArrayPool<int>.Shared.Return(_lengths!);
            _buffer = null;
            _lengths = null;
        }
    }

    private unsafe int ReceiveQueued()
    {
        int slots = Slots;
        LinuxDatagrams.MMsgHdr* messages = stackalloc LinuxDatagrams.MMsgHdr[slots];
        LinuxDatagrams.IoVec* vectors = stackalloc LinuxDatagrams.IoVec[slots];
        int received;
        int errno;
        fixed (byte* buffer = _buffer)
        {
            for (int i = 0; i < slots; i++)
            {
                byte* slot = buffer + (i * _slotSize);
                vectors[i].Base = slot + AddressArea + UdpBridgeFrame.MaxHeaderLength;
                vectors[i].Length = (nuint)_capacity;
                messages[i] = default;
                messages[i].Header.Name = slot;
                messages[i].Header.NameLength = AddressArea;
                messages[i].Header.Iov = vectors + i;
                messages[i].Header.IovLength = 1;
            }

            received = LinuxDatagrams.Receive(_socket, messages, slots, out errno);
        }

        if (received < 0)
        {
            return errno switch
            {
                LinuxDatagrams.EAgain => 0,
                111 or 104 => RecordReset(), // ECONNREFUSED, ECONNRESET: an ICMP error for an earlier send
                _ => throw LinuxDatagrams.ToException(errno, "recvmmsg"),
            };
        }

        for (int i = 0; i < received; i++)
        {
            // A truncated datagram reads as one byte over the maximum, as the managed path reports it.
            _lengths![i] = (messages[i].Header.Flags & LinuxDatagrams.MsgTrunc) != 0 ? _capacity : (int)messages[i].Length;
        }

        return received;
    }

    private int RecordReset()
    {
        _lengths![0] = Reset;
        return 1;
    }

    private async ValueTask<int> ReceiveManagedAsync(CancellationToken cancellationToken)
    {
        int count = 0;
        do
        {
            int length;
            try
            {
                length = await _socket.ReceiveFromAsync(_buffer.AsMemory(PayloadOffset(count), _capacity), SocketFlags.None, _source, cancellationToken)
                    .ConfigureAwait(false);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.MessageSize)
            {
                length = _capacity;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset)
            {
                length = Reset;
            }

            _source.Buffer.Span[.._source.Size].CopyTo(_buffer.AsSpan(count * _slotSize, AddressArea));
            _lengths![count++] = length;
        }
        while (count < Slots && _socket.Available > 0);

        return count;
    }
}
