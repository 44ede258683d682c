using P2PNet.Vpn.Gateway.Internal;
using P2PNet.Vpn.NetStack;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.Gateway;

// TCP: one user-space stack per destination address terminates the members' connections; each SYN becomes a flow that
// connects an OS socket first and answers the member after (TcpEgressFlow).
public sealed partial class RootlessEgress
{
    // Lock order: the egress's lock may be held while a stack's lock is taken, never the other way round.
    private readonly Dictionary<uint, DestinationStack> _destinations = [];
    private readonly Dictionary<FlowKey, TcpEgressFlow> _tcpFlows = [];
    private readonly HeldSyns _synGate;
    private int _pendingConnects;
    private long _tcpFlowsTotal;
    private long _connectFailures;

    private async ValueTask ReceiveTcpAsync(Memory<byte> packet, IpPacket ip)
    {
        if (!TcpSegment.TryParse(packet.Span.Slice(ip.HeaderLength, ip.PayloadLength), out var segment))
        {
            Drop(RootlessEgressDropReason.Malformed);
            return;
        }
        bool isSyn = (segment.Flags & (TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Rst)) == TcpFlags.Syn;
        DestinationStack? destination;
        lock (_lock)
        {
            _destinations.TryGetValue(ip.Destination, out destination);
        }
        if (destination is null)
        {
            // Checked here only: a destination's stack checks every segment it is fed itself.
            if (IpPacket.TransportChecksum(packet.Span, ip) != 0)
            {
                Drop(RootlessEgressDropReason.BadChecksum);
                return;
            }
            if (ip.Destination == _localAddress)
            {
                Drop(RootlessEgressDropReason.LocalAddress);
                await RefuseAsync(ip, segment).ConfigureAwait(false);
                return;
            }
            if (!isSyn)
            {
                // A segment for no connection (its stack was let go, or it never was): reset, as a host does.
                Drop(RootlessEgressDropReason.TcpRejected);
                await RefuseAsync(ip, segment).ConfigureAwait(false);
                return;
            }
            destination = await AddDestinationAsync(ip.Destination).ConfigureAwait(false);
            if (destination is null)
            {
                Drop(RootlessEgressDropReason.DestinationLimit);
                await RefuseAsync(ip, segment).ConfigureAwait(false);
                return;
            }
        }
        destination.LastUsed = Time.GetTimestamp();
        var stack = destination.Stack;
        long dropped = stack.PacketsDropped;
        _synGate.Held.Clear();
        stack.Receive(packet.Span);
        if (stack.PacketsDropped != dropped)
        {
            Drop(RootlessEgressDropReason.TcpRejected);
        }
        foreach (var (remote, syn) in _synGate.Held)
        {
            StartFlow(destination, remote, syn);
        }
        _synGate.Held.Clear();
        await stack.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Answers a segment nobody takes with a reset from its destination (RFC 9293 §3.10.7.1), unless it is one.</summary>
    private async ValueTask RefuseAsync(IpPacket ip, TcpSegment segment)
    {
        if ((segment.Flags & TcpFlags.Rst) != 0)
        {
            return;
        }
        byte[] reset = new byte[40];
        if ((segment.Flags & TcpFlags.Ack) != 0)
        {
            EgressPackets.WriteReset(reset, ip.Destination, segment.DestinationPort, ip.Source, segment.SourcePort,
                segment.AcknowledgmentNumber, 0, TcpFlags.Rst, NextIpId());
        }
        else
        {
            EgressPackets.WriteReset(reset, ip.Destination, segment.DestinationPort, ip.Source, segment.SourcePort,
                0, segment.SequenceNumber + (uint)segment.SequenceLength, TcpFlags.Rst | TcpFlags.Ack, NextIpId());
        }
        await WriteToVpnAsync(reset, _stopping.Token).ConfigureAwait(false);
    }

    /// <summary>Starts the stack for a new destination, letting an idle one go first when at the limit; null when every
    /// slot is busy.</summary>
    private async ValueTask<DestinationStack?> AddDestinationAsync(uint address)
    {
        DestinationStack? evicted = null;
        lock (_lock)
        {
            if (_destinations.Count >= Options.MaxDestinations)
            {
                // Any destination without flows or connections may go at once: nothing of it is lost.
                evicted = _destinations.Values.Where(d => IsIdle(d, TimeSpan.Zero)).MinBy(d => d.LastUsed);
                if (evicted is null)
                {
                    return null;
                }
                _destinations.Remove(evicted.Address);
            }
        }
        if (evicted is not null)
        {
            await evicted.DisposeAsync().ConfigureAwait(false);
        }
        var destination = await DestinationStack.StartAsync(address, StackOptions, _synGate,
            packet => _device.WritePacketAsync(packet, CancellationToken.None), _loggerFactory, Time, _stopping.Token).ConfigureAwait(false);
        destination.LastUsed = Time.GetTimestamp();
        lock (_lock)
        {
            if (!_disposed)
            {
                _destinations.Add(address, destination);
                return destination;
            }
        }
        await destination.DisposeAsync().ConfigureAwait(false);
        return null;
    }

    /// <summary>Under the lock: no flow uses the destination, no connection is left in its stack, and it has been so
    /// for <paramref name="timeout"/>.</summary>
    private bool IsIdle(DestinationStack destination, TimeSpan timeout) =>
        destination.Flows == 0 && Time.GetElapsedTime(destination.LastUsed) >= timeout && destination.Stack.ConnectionCount == 0;

    /// <summary>A held SYN becomes a flow (within the limits) whose task connects the OS socket.</summary>
    private void StartFlow(DestinationStack destination, uint remote, in TcpSegment syn)
    {
        var key = new FlowKey(remote, syn.SourcePort, destination.Address, syn.DestinationPort);
        TcpEgressFlow? flow = null;
        RootlessEgressDropReason? refused = null;
        lock (_lock)
        {
            if (_disposed || _tcpFlows.ContainsKey(key))
            {
                return; // a retransmitted SYN while its connect is in progress
            }
            if (_tcpFlows.Count >= Options.MaxTcpFlows)
            {
                refused = RootlessEgressDropReason.TcpFlowLimit;
            }
            else if (_pendingConnects >= Options.MaxPendingConnects)
            {
                Drop(RootlessEgressDropReason.PendingConnectLimit); // dropped, not refused: the member retries
                return;
            }
            else
            {
                flow = new TcpEgressFlow(this, key, destination, syn);
                _tcpFlows.Add(key, flow);
                _pendingConnects++;
                destination.Flows++;
                _tcpFlowsTotal++;
            }
        }
        if (refused is { } reason)
        {
            Drop(reason);
            destination.Stack.RefuseSyn(remote, syn);
            return;
        }
        _tasks.Track(Task.Run(flow!.RunAsync));
    }

    /// <summary>The flow's connect succeeded and the member's side is accepted.</summary>
    internal void FlowOpened(TcpEgressFlow flow)
    {
        lock (_lock)
        {
            if (!flow.IsOpen)
            {
                flow.IsOpen = true;
                _pendingConnects--;
            }
        }
        EgressLog.TcpFlowOpened(_logger, flow.Key.MemberEndPoint, flow.Key.DestinationEndPoint);
    }

    internal void FlowEnded(TcpEgressFlow flow, string outcome)
    {
        lock (_lock)
        {
            if (_tcpFlows.TryGetValue(flow.Key, out var current) && current == flow)
            {
                _tcpFlows.Remove(flow.Key);
            }
            if (!flow.IsOpen)
            {
                _pendingConnects--;
                flow.IsOpen = true; // counted once
            }
            if (--flow.Destination.Flows == 0)
            {
                flow.Destination.LastUsed = Time.GetTimestamp();
            }
        }
        EgressLog.TcpFlowClosed(_logger, flow.Key.MemberEndPoint, flow.Key.DestinationEndPoint, outcome);
    }

    internal void CountConnectFailure(FlowKey key, string reason)
    {
        Interlocked.Increment(ref _connectFailures);
        EgressLog.ConnectFailed(_logger, key.MemberEndPoint, key.DestinationEndPoint, reason);
    }

    /// <summary>The SYN gate of every destination stack: SYNs are held in a list the read loop takes right after it fed
    /// the packet (the stack calls it from inside <see cref="IPStack.Receive"/>, on the read loop's thread).</summary>
    private sealed class HeldSyns : ITcpSynGate
    {
        public List<(uint Remote, TcpSegment Syn)> Held { get; } = [];

        public void OnSyn(IPStack stack, TcpPortListener listener, uint remote, in TcpSegment syn) => Held.Add((remote, syn));
    }
}
