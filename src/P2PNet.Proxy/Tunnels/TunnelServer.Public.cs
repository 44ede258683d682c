using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using P2PNet.Host;
using P2PNet.Host.Internal;
using P2PNet.Proxy.Tunnels.Internal;
using P2PNet.Transports;

namespace P2PNet.Proxy.Tunnels;

public sealed partial class TunnelServer
{
    private static readonly byte[] NotFoundResponse = Response(404, "Not Found", "no tunnel serves this host name\n");
    private static readonly byte[] BadRequestResponse = Response(400, "Bad Request", "malformed request or no Host header\n");
    private static readonly byte[] UnavailableResponse = Response(503, "Service Unavailable", "the tunnel is at its connection limit\n");
    private static readonly byte[] BadGatewayResponse = Response(502, "Bad Gateway", "the device did not answer\n");

    private static byte[] Response(int code, string reason, string body) => Encoding.ASCII.GetBytes(
        $"HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}");

    /// <summary>Starts the accept loops of a registration's TCP ports and the relays of its UDP ports.</summary>
    private void StartServing(DeviceRegistration registration)
    {
        foreach (var service in registration.Services)
        {
            if (service.Kind == TunnelServiceKind.Tcp)
            {
                registration.Tasks.Track(AcceptTcpAsync(registration, service, registration.Stopping.Token));
            }
            else if (service.Kind == TunnelServiceKind.Udp)
            {
                var relay = new UdpRelay(registration, service, _idle, _logger);
                registration.Tasks.Track(relay.RunAsync(registration.Stopping.Token));
            }
        }
    }

    private async Task AcceptTcpAsync(DeviceRegistration registration, PublishedService service, CancellationToken cancellationToken)
    {
        var acceptor = new SocketAcceptor(service.Listener!, _logger);
        while (await acceptor.AcceptAsync(cancellationToken).ConfigureAwait(false) is { } socket)
        {
            if (!service.Traffic.TryOpen(_options.MaxConnectionsPerTunnel))
            {
                socket.LingerState = new LingerOption(true, 0);
                socket.Dispose();
                continue;
            }
            registration.Tasks.Track(ForwardAsync(socket, registration, service, default, cancellationToken));
        }
    }

    /// <summary>Opens a stream to the device for one public connection and pipes it; the connection is counted already.</summary>
    private async Task ForwardAsync(Socket socket, DeviceRegistration registration, PublishedService service, ReadOnlyMemory<byte> initial,
        CancellationToken cancellationToken)
    {
        string remote = socket.RemoteEndPoint?.ToString() ?? "";
        try
        {
            socket.NoDelay = true;
            P2PStream stream;
            try
            {
                using var open = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                open.CancelAfter(_options.HeadTimeout);
                stream = await registration.OpenAsync(service.Name, remote, open.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                TunnelLog.ConnectionFailed(_logger, remote, registration.Device, service.Name, e.Message);
                if (service.Kind == TunnelServiceKind.Http)
                {
                    await TrySendAsync(socket, BadGatewayResponse).ConfigureAwait(false);
                }
                socket.Dispose();
                return;
            }
            var traffic = service.Traffic;
            await SocketStreamPump.RunAsync(socket, stream, initial, traffic.AddIn, traffic.AddOut, traffic.InLimiter, traffic.OutLimiter,
                _idle, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            service.Traffic.Closed();
        }
    }

    private async Task AcceptFrontAsync(Socket listener, TunnelServiceKind kind, CancellationToken cancellationToken)
    {
        var connections = new TaskTracker();
        try
        {
            var acceptor = new SocketAcceptor(listener, _logger);
            while (await acceptor.AcceptAsync(cancellationToken).ConfigureAwait(false) is { } socket)
            {
                connections.Track(RouteAsync(socket, kind, cancellationToken));
            }
        }
        finally
        {
            await connections.WhenAllAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads a front connection's request head (HTTP) or ClientHello (TLS) without consuming it, finds the service by
    /// name, and forwards every byte read so far and everything after it to the device.
    /// </summary>
    private async Task RouteAsync(Socket socket, TunnelServiceKind kind, CancellationToken cancellationToken)
    {
        int limit = kind == TunnelServiceKind.Http ? _options.MaxRequestHeadBytes : TlsClientHello.MaxClientHello + 5 * 4;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(limit);
        bool handedOver = false;
        string remote = socket.RemoteEndPoint?.ToString() ?? "";
        try
        {
            int filled = 0;
            FrontParseResult result = FrontParseResult.NeedMore;
            string? name = null;
            using (var head = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                head.CancelAfter(_options.HeadTimeout);
                while (result == FrontParseResult.NeedMore && filled < limit)
                {
                    int read = await socket.ReceiveAsync(buffer.AsMemory(filled, limit - filled), SocketFlags.None, head.Token).ConfigureAwait(false);
                    if (read == 0)
                    {
                        break;
                    }
                    filled += read;
                    var bytes = new ReadOnlySequence<byte>(buffer, 0, filled);
                    result = kind == TunnelServiceKind.Http
                        ? HttpRequestHead.TryGetHost(bytes, out name)
                        : TlsClientHello.TryGetServerName(bytes, out name);
                }
            }
            if (result != FrontParseResult.Found)
            {
                TunnelLog.FrontRefused(_logger, remote, result.ToString());
                await TrySendAsync(socket, kind == TunnelServiceKind.Http ? BadRequestResponse : TlsClientHello.DecodeErrorAlert.ToArray()).ConfigureAwait(false);
                return;
            }
            if (!_names.TryGetValue(name!, out var route) || route.Service.Kind != kind || route.Device.IsClosed)
            {
                TunnelLog.FrontRefused(_logger, remote, "unknown name " + name);
                await TrySendAsync(socket, kind == TunnelServiceKind.Http ? NotFoundResponse : TlsClientHello.UnrecognizedNameAlert.ToArray()).ConfigureAwait(false);
                return;
            }
            if (!route.Service.Traffic.TryOpen(_options.MaxConnectionsPerTunnel))
            {
                await TrySendAsync(socket, kind == TunnelServiceKind.Http ? UnavailableResponse : TlsClientHello.UnrecognizedNameAlert.ToArray()).ConfigureAwait(false);
                return;
            }
            handedOver = true;
            byte[] initial = buffer.AsSpan(0, filled).ToArray();
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = [];
            using var both = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, route.Device.Stopping.Token);
            await ForwardAsync(socket, route.Device, route.Service, initial, both.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
        {
            TunnelLog.FrontRefused(_logger, remote, e.Message);
        }
        finally
        {
            if (buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            if (!handedOver)
            {
                socket.Dispose();
            }
        }
    }

    private static async Task TrySendAsync(Socket socket, byte[] bytes)
    {
        try
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await socket.SendAsync(bytes, SocketFlags.None, deadline.Token).ConfigureAwait(false);
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }
}
