using System.Net;
using System.Threading.Channels;

namespace P2PNet.Vpn;

/// <summary>
/// A packet device without a kernel: the application (a gateway, a user-space TCP/IP stack, a test) sends IP packets
/// into the VPN with <see cref="SendAsync"/> and receives the packets addressed to it with <see cref="ReceiveAsync"/>.
/// Needs no privileges. A user-space TCP/IP stack runs on <see cref="ApplicationEnd"/>.
/// </summary>
/// <remarks>Both directions are bounded queues: a full send queue makes <see cref="SendAsync"/> wait; a full receive
/// queue drops the packet and counts it in <see cref="ReceiveDrops"/>. All members are thread-safe.</remarks>
public sealed class UserSpacePacketDevice : IPacketDevice
{
    private readonly Channel<byte[]> _toVpn;
    private readonly Channel<byte[]> _fromVpn;
    private readonly TaskCompletionSource<IPAddress> _configured = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _receiveDrops;

    /// <summary>Creates a device whose queues each hold up to <paramref name="capacity"/> packets (default 1024).</summary>
    public UserSpacePacketDevice(int capacity = 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _toVpn = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        _fromVpn = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.Wait });
        ApplicationEnd = new ApplicationEndDevice(this);
    }

    /// <summary>
    /// The application's end of this device as an <see cref="IPacketDevice"/>, for a user-space TCP/IP stack
    /// (<see cref="NetStack.IPStack"/>) on a VPN membership without a TUN device or root: its
    /// <see cref="IPacketDevice.ReadPacketAsync"/> takes the packets the VPN delivered (as <see cref="ReceiveAsync"/>
    /// does) and its <see cref="IPacketDevice.WritePacketAsync"/> sends into the VPN (as <see cref="SendAsync"/> does).
    /// </summary>
    /// <remarks>Its <see cref="IPacketDevice.ConfigureAsync"/> does nothing (the stack takes its address and MTU from
    /// its own arguments: <see cref="Address"/> and <see cref="Mtu"/> once <see cref="Configured"/>); disposing it does not
    /// dispose this device. Reads end (return 0) once this device is disposed. Use either it or
    /// <see cref="ReceiveAsync"/>/<see cref="TryReceive"/>, not both: they take from the same queue.</remarks>
    public IPacketDevice ApplicationEnd { get; }

    /// <summary>The address the VPN assigned (null until configured).</summary>
    public IPAddress? Address { get; private set; }

    /// <summary>The prefix length of the VPN network (0 until configured).</summary>
    public int PrefixLength { get; private set; }

    /// <summary>The MTU the VPN uses (0 until configured).</summary>
    public int Mtu { get; private set; }

    /// <summary>Completes with the assigned address once the VPN has configured the device.</summary>
    public Task<IPAddress> Configured => _configured.Task;

    /// <summary>Packets dropped because the application did not receive fast enough.</summary>
    public long ReceiveDrops => Interlocked.Read(ref _receiveDrops);

    /// <summary>Sends an IP packet into the VPN (as if the local system routed it there). The bytes are copied.</summary>
    public ValueTask SendAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken = default) =>
        _toVpn.Writer.WriteAsync(packet.ToArray(), cancellationToken);

    /// <summary>Receives the next packet the VPN delivered to this member.</summary>
    public ValueTask<byte[]> ReceiveAsync(CancellationToken cancellationToken = default) => _fromVpn.Reader.ReadAsync(cancellationToken);

    /// <summary>Takes a delivered packet if one is waiting.</summary>
    public bool TryReceive(out byte[] packet) => _fromVpn.Reader.TryRead(out packet!);

    /// <inheritdoc />
    public ValueTask ConfigureAsync(IPAddress address, int prefixLength, int mtu, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        Address = address;
        PrefixLength = prefixLength;
        Mtu = mtu;
        _configured.TrySetResult(address);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<int> ReadPacketAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ReadIntoAsync(_toVpn.Reader, buffer, cancellationToken);

    /// <inheritdoc />
    public ValueTask WritePacketAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken = default)
    {
        if (!_fromVpn.Writer.TryWrite(packet.ToArray()))
        {
            Interlocked.Increment(ref _receiveDrops);
        }
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        _toVpn.Writer.TryComplete();
        _fromVpn.Writer.TryComplete();
        return ValueTask.CompletedTask;
    }

    /// <summary>Copies the next queued packet into <paramref name="buffer"/>; 0 once the queue is completed.</summary>
    private static async ValueTask<int> ReadIntoAsync(ChannelReader<byte[]> queue, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (await queue.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (queue.TryRead(out var packet))
            {
                if (packet.Length > buffer.Length)
                {
                    continue; // larger than the reader's MTU allows: it would drop it anyway
                }
                packet.CopyTo(buffer);
                return packet.Length;
            }
        }
        return 0;
    }

    /// <summary>The device with its directions swapped: what the application reads and writes.</summary>
    private sealed class ApplicationEndDevice(UserSpacePacketDevice device) : IPacketDevice
    {
        public ValueTask ConfigureAsync(IPAddress address, int prefixLength, int mtu, CancellationToken cancellationToken = default) =>
            ValueTask.CompletedTask;

        public ValueTask<int> ReadPacketAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ReadIntoAsync(device._fromVpn.Reader, buffer, cancellationToken);

        public ValueTask WritePacketAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken = default) =>
            device.SendAsync(packet, cancellationToken);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
