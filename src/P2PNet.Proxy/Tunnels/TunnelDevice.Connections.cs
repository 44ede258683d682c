using System.Net.Sockets;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Proxy.Tunnels.Internal;
using P2PNet.Proxy.Tunnels.Protos;

namespace P2PNet.Proxy.Tunnels;

public sealed partial class TunnelDevice
{
    /// <summary>
    /// One public connection (or UDP flow) the server streams to us: only from our server, only for a service we expose;
    /// connects it to the service's local endpoint and pipes it.
    /// </summary>
    private async Task HandleConnectionAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        var task = ServeConnectionAsync(stream, cancellationToken);
        _connections.Track(task);
        await task.ConfigureAwait(false);
    }

    private async Task ServeConnectionAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        if (stream.RemotePeer != _server)
        {
            // Only the server we registered with may open tunnelled connections.
            stream.Abort();
            await stream.DisposeAsync().ConfigureAwait(false);
            return;
        }
        Socket? socket = null;
        try
        {
            ConnectionOpen? open;
            using (var head = CancellationTokenSource.CreateLinkedTokenSource(linked.Token))
            {
                head.CancelAfter(_options.ResponseTimeout);
                open = await TunnelWire.ReadAsync(stream.Input, ConnectionOpen.Parser, head.Token).ConfigureAwait(false);
            }
            if (open is null || !_services.TryGetValue(open.Service, out var service))
            {
                throw new WireFormatException($"no service '{open?.Service}' here");
            }
            if (service.Kind == TunnelServiceKind.Udp)
            {
                socket = new Socket(SocketType.Dgram, ProtocolType.Udp);
                await ConnectAsync(socket, service, linked.Token).ConfigureAwait(false);
                await RelayDatagramsAsync(socket, stream, linked.Token).ConfigureAwait(false);
                return;
            }
            socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await ConnectAsync(socket, service, linked.Token).ConfigureAwait(false);
            var handedOver = socket;
            socket = null;
            await SocketStreamPump.RunAsync(handedOver, stream, default, null, null, null, null, _idle, linked.Token).ConfigureAwait(false);
            return;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            TunnelLog.LocalConnectFailed(_logger, stream.ToString(), e.Message);
        }
        finally
        {
            socket?.Dispose();
        }
        stream.Abort();
        await stream.DisposeAsync().ConfigureAwait(false);
    }

    private async Task ConnectAsync(Socket socket, TunnelServiceSpec service, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_options.LocalConnectTimeout);
        await socket.ConnectAsync(service.LocalEndPoint, deadline.Token).ConfigureAwait(false);
    }

    /// <summary>Device side of a UDP flow: framed datagrams from the stream to the local socket and back.</summary>
    private async Task RelayDatagramsAsync(Socket socket, P2PStream stream, CancellationToken cancellationToken)
    {
        using var flow = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var activity = _idle.Watch(flow);
        async Task FromLocalAsync()
        {
            byte[] buffer = new byte[TunnelWire.MaxDatagramSize];
            while (true)
            {
                int read = await socket.ReceiveAsync(buffer, SocketFlags.None, flow.Token).ConfigureAwait(false);
                activity.Touch();
                await LengthPrefixed.WriteAsync(stream.Output, buffer.AsMemory(0, read), flow.Token).ConfigureAwait(false);
            }
        }
        var back = FromLocalAsync();
        try
        {
            while (true)
            {
                byte[]? datagram = await LengthPrefixed.ReadAsync(stream.Input, TunnelWire.MaxDatagramSize, flow.Token).ConfigureAwait(false);
                if (datagram is null)
                {
                    break;
                }
                activity.Touch();
                await socket.SendAsync(datagram, SocketFlags.None, flow.Token).ConfigureAwait(false);
            }
        }
        finally
        {
            await flow.CancelAsync().ConfigureAwait(false);
            try
            {
                await back.ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException
                or InvalidOperationException or Muxing.StreamResetException or Muxing.MuxerClosedException)
            {
            }
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }
}
