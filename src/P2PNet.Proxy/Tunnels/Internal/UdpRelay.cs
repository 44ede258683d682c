using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using P2PNet.Host;
using P2PNet.Host.Internal;
using P2PNet.IO;

namespace P2PNet.Proxy.Tunnels.Internal;

/// <summary>
/// A public UDP port of one device's service: each remote endpoint (a flow) gets its own stream to the device, carrying
/// datagrams as unsigned-varint-length-prefixed frames both ways. A flow ends after the idle timeout or when the device
/// ends its stream; the flow limit is the tunnel's connection limit.
/// </summary>
internal sealed class UdpRelay(DeviceRegistration registration, PublishedService service, IdleSweeper idle, ILogger logger)
{
    private readonly ConcurrentDictionary<EndPoint, Flow> _flows = new();
    private readonly TaskTracker _tasks = new();

    public int MaxFlows { get; init; } = 1024;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var socket = service.Listener!;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(TunnelWire.MaxDatagramSize);
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
                    continue;
                }
                if (!_flows.TryGetValue(received.RemoteEndPoint, out var flow))
                {
                    flow = await OpenFlowAsync(socket, received.RemoteEndPoint, cancellationToken).ConfigureAwait(false);
                    if (flow is null)
                    {
                        continue;
                    }
                }
                flow.Activity.Touch();
                service.Traffic.AddIn(received.ReceivedBytes);
                try
                {
                    // Awaiting the flush is the backpressure: a slow device slows this port, it never queues without bound.
                    await LengthPrefixed.WriteAsync(flow.Stream.Output, buffer.AsMemory(0, received.ReceivedBytes), flow.Stopping.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException
                    or Muxing.StreamResetException or Muxing.MuxerClosedException)
                {
                    Cancel(flow);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            foreach (var flow in _flows.Values)
            {
                Cancel(flow);
            }
            await _tasks.WhenAllAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
    }

    private async Task<Flow?> OpenFlowAsync(Socket socket, EndPoint remote, CancellationToken cancellationToken)
    {
        if (_flows.Count >= MaxFlows || !service.Traffic.TryOpen(MaxFlows))
        {
            return null;
        }
        P2PStream stream;
        try
        {
            using var open = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            open.CancelAfter(TimeSpan.FromSeconds(10));
            stream = await registration.OpenAsync(service.Name, remote.ToString() ?? "", open.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            service.Traffic.Closed();
            TunnelLog.ConnectionFailed(logger, remote.ToString() ?? "", registration.Device, service.Name, e.Message);
            return null;
        }
        var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var flow = new Flow(stream, stopping, idle.Watch(stopping));
        _flows[remote] = flow;
        _tasks.Track(ReturnLoopAsync(socket, remote, flow));
        return flow;
    }

    /// <summary>Device → public: sends each framed datagram to the flow's remote endpoint.</summary>
    private async Task ReturnLoopAsync(Socket socket, EndPoint remote, Flow flow)
    {
        try
        {
            while (true)
            {
                byte[]? datagram = await LengthPrefixed.ReadAsync(flow.Stream.Input, TunnelWire.MaxDatagramSize, flow.Stopping.Token).ConfigureAwait(false);
                if (datagram is null)
                {
                    break;
                }
                flow.Activity.Touch();
                service.Traffic.AddOut(datagram.Length);
                await socket.SendToAsync(datagram, SocketFlags.None, remote, flow.Stopping.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException
            or WireFormatException or InvalidOperationException or Muxing.StreamResetException or Muxing.MuxerClosedException)
        {
        }
        finally
        {
            _flows.TryRemove(new KeyValuePair<EndPoint, Flow>(remote, flow));
            flow.Activity.Dispose();
            flow.Stream.Abort();
            await flow.Stream.DisposeAsync().ConfigureAwait(false);
            flow.Stopping.Dispose();
            service.Traffic.Closed();
        }
    }

    private static void Cancel(Flow flow)
    {
        try
        {
            flow.Stopping.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The flow ended on its own meanwhile.
        }
    }

    private sealed record Flow(P2PStream Stream, CancellationTokenSource Stopping, IdleSweeper.Activity Activity);
}
