using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using P2PNet.Host.Internal;
using P2PNet.Proxy.Tunnels.Internal;
using P2PNet.Vpn.NetStack;

namespace P2PNet.Proxy.Inbound.Internal;

/// <summary>
/// A UDP gateway socket: each public client endpoint (a flow) gets a UDP port of its own on the user-space stack, from
/// which its datagrams go to the target; the target's answers to that port go back to the client. A flow ends after
/// <see cref="InboundProxyOptions.UdpFlowIdleTimeout"/>. Flows per socket and per source are bounded like TCP connections.
/// </summary>
internal sealed class InboundUdpForwarder : IAsyncDisposable
{
    private const int MaxDatagram = 65_535;

    private readonly IPStack _stack;
    private readonly IPEndPoint _listen;
    private readonly IPEndPoint _target;
    private readonly InboundProxyOptions _options;
    private readonly SourceLimiter _sources;
    private readonly BandwidthMeter[] _meters;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IdleSweeper _idle;
    private readonly TaskTracker _tasks = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly InboundCounters _counters = new();
    private readonly ConcurrentDictionary<IPEndPoint, Flow> _flows = new();
    private Socket? _socket;
    private Task? _receiveLoop;
    private bool _disposed;

    public InboundUdpForwarder(IPStack stack, IPEndPoint listen, IPEndPoint target, InboundProxyOptions options, SourceLimiter sources,
        BandwidthMeter[] meters, ILogger logger, TimeProvider time)
    {
        _stack = stack;
        _listen = listen;
        _target = target;
        _options = options;
        _sources = sources;
        _meters = meters;
        _logger = logger;
        _time = time;
        _idle = new IdleSweeper(options.UdpFlowIdleTimeout, time);
    }

    public IPEndPoint? LocalEndPoint => (IPEndPoint?)_socket?.LocalEndPoint;

    public IEnumerable<InboundConnection> OpenFlows => _flows.Values.Select(f => f.Connection);

    public InboundForwarderStatistics GetStatistics() => new(
        _flows.Count, _counters.Accepted, _counters.Refused, _counters.Failed, _counters.ToTarget, _counters.FromTarget,
        [.. _flows.Values.Select(f => f.Connection.Snapshot())])
    {
        RateLimitedConnections = _counters.RateLimited,
    };

    public void Start()
    {
        var socket = new Socket(_listen.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(_listen);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        _socket = socket;
        _receiveLoop = ReceiveAsync(socket, _stopping.Token);
    }

    private async Task ReceiveAsync(Socket socket, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(MaxDatagram);
        EndPoint any = new IPEndPoint(socket.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                SocketReceiveFromResult received;
                try
                {
                    received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, cancellationToken).ConfigureAwait(false);
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.MessageSize)
                {
                    continue; // an ICMP error from an earlier send, or a datagram larger than the buffer
                }
                var client = (IPEndPoint)received.RemoteEndPoint;
                if (!_flows.TryGetValue(client, out var flow) && (flow = Open(socket, client)) is null)
                {
                    continue;
                }
                flow.Activity.Touch();
                try
                {
                    await flow.Vpn.SendToAsync(buffer.AsMemory(0, received.ReceivedBytes), _target, cancellationToken).ConfigureAwait(false);
                    flow.Connection.AddToTarget(received.ReceivedBytes);
                }
                catch (ArgumentException)
                {
                    // Larger than the VPN's MTU allows (the stack does not fragment): dropped, as a router would.
                    _counters.CountFailed();
                }
                catch (ObjectDisposedException)
                {
                    // The flow ended between the lookup and the send.
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private Flow? Open(Socket socket, IPEndPoint client)
    {
        if (_flows.Count >= _options.MaxConnectionsPerSocket)
        {
            _counters.CountRefused();
            return null;
        }
        var verdict = _sources.TryOpen(client.Address);
        if (verdict != SourceVerdict.Allowed)
        {
            if (verdict == SourceVerdict.RateLimited)
            {
                _counters.CountRateLimited();
            }
            else
            {
                _counters.CountRefused();
            }
            InboundLog.SourceLimited(_logger, client.ToString(), verdict.ToString());
            return null;
        }
        UdpSocket vpn;
        try
        {
            vpn = _stack.BindUdp();
        }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
        {
            _sources.Close(client.Address);
            _counters.CountFailed();
            return null;
        }
        _counters.CountAccepted();
        var stopping = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        var connection = new InboundConnection(client, _counters, new BandwidthMeter(_time, _meters)) { VpnEndPoint = vpn.LocalEndPoint };
        var flow = new Flow(connection, vpn, stopping, _idle.Watch(stopping));
        _flows[client] = flow;
        _tasks.Track(ReturnAsync(socket, flow));
        return flow;
    }

    /// <summary>VPN → public: the target's answers to the flow's port go to the client.</summary>
    private async Task ReturnAsync(Socket socket, Flow flow)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(MaxDatagram);
        string reason = "closed";
        try
        {
            while (true)
            {
                var datagram = await flow.Vpn.ReceiveFromAsync(buffer, flow.Stopping.Token).ConfigureAwait(false);
                if (!datagram.RemoteEndPoint.Equals(_target))
                {
                    continue; // only the target answers through this flow
                }
                flow.Activity.Touch();
                await socket.SendToAsync(buffer.AsMemory(0, datagram.Length), SocketFlags.None, flow.Connection.Client, flow.Stopping.Token)
                    .ConfigureAwait(false);
                flow.Connection.AddFromTarget(datagram.Length);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            reason = flow.Activity.Expired ? "idle" : e.GetType().Name;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            _flows.TryRemove(new KeyValuePair<IPEndPoint, Flow>(flow.Connection.Client, flow));
            flow.Activity.Dispose();
            flow.Vpn.Dispose();
            flow.Stopping.Dispose();
            _sources.Close(flow.Connection.Client.Address);
            InboundLog.FlowEnded(_logger, flow.Connection.Client.ToString(), _target.ToString(), reason);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        await _stopping.CancelAsync().ConfigureAwait(false);
        _socket?.Dispose();
        if (_receiveLoop is not null)
        {
            await _receiveLoop.ConfigureAwait(false);
        }
        await _tasks.WhenAllAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        _idle.Dispose();
        _stopping.Dispose();
    }

    private sealed record Flow(InboundConnection Connection, UdpSocket Vpn, CancellationTokenSource Stopping, IdleSweeper.Activity Activity);
}
