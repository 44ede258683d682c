using System.Net;
using Microsoft.Extensions.Logging;
using P2PNet.Vpn.NetStack;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.Gateway.Internal;

/// <summary>The user-space stack that plays one Internet destination address towards the members: it owns that address,
/// listens on every port through a SYN gate, and terminates each member's TCP connection to it. The egress feeds it the
/// members' packets for that address (<see cref="IPStack.Receive"/>, no queue of its own); what it sends goes straight
/// into the VPN.</summary>
internal sealed class DestinationStack : IAsyncDisposable
{
    private readonly StackDevice _device;

    private DestinationStack(uint address, IPStack stack, StackDevice device)
    {
        Address = address;
        Stack = stack;
        _device = device;
    }

    public uint Address { get; }

    public IPStack Stack { get; }

    public TcpPortListener Listener { get; private set; } = null!;

    /// <summary>Flows (connecting or open) that use this stack; written under the egress's lock.</summary>
    public int Flows { get; set; }

    /// <summary>When <see cref="Flows"/> last went to 0 or a packet last came (the egress clock's timestamp).</summary>
    public long LastUsed { get; set; }

    /// <summary>Creates and starts the stack for <paramref name="address"/>.</summary>
    public static async Task<DestinationStack> StartAsync(uint address, NetStackOptions options, ITcpSynGate gate,
        Func<ReadOnlyMemory<byte>, ValueTask> send, ILoggerFactory? loggerFactory, TimeProvider time, CancellationToken cancellationToken)
    {
        var device = new StackDevice(send);
        var stack = new IPStack(device, FlowKey.ToAddress(address), options, ownsDevice: false, loggerFactory, meterFactory: null, time);
        var destination = new DestinationStack(address, stack, device);
        try
        {
            destination.Listener = stack.ListenTcpAny(gate);
            await stack.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await stack.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return destination;
    }

    /// <summary>Stops the stack: its connections are reset towards the members.</summary>
    public async ValueTask DisposeAsync()
    {
        await Stack.DisposeAsync().ConfigureAwait(false);
        await _device.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>The stack's device: writes go into the VPN; reads never yield a packet (the egress calls
    /// <see cref="IPStack.Receive"/> itself) and end when the stack stops.</summary>
    private sealed class StackDevice(Func<ReadOnlyMemory<byte>, ValueTask> send) : IPacketDevice
    {
        public ValueTask ConfigureAsync(IPAddress address, int prefixLength, int mtu, CancellationToken cancellationToken = default) =>
            ValueTask.CompletedTask;

        public async ValueTask<int> ReadPacketAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
            return 0;
        }

        public ValueTask WritePacketAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken = default) => send(packet);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
