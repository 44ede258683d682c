using System.Net;
using System.Net.Sockets;
using P2PNet.Host;
using P2PNet.Proxy.Tunnels.Internal;
using P2PNet.Proxy.Tunnels.Protos;

namespace P2PNet.Proxy.Tunnels;

public sealed partial class TunnelServer
{
    /// <summary>
    /// Serves one device's control stream: one Register, then Pings until the device leaves, goes silent for
    /// <see cref="TunnelServerOptions.DeviceTimeout"/>, or is cut off. The registration lives as long as this stream.
    /// </summary>
    private async Task HandleControlAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        DeviceRegistration? registration = null;
        try
        {
            DeviceMessage? first;
            using (var head = CancellationTokenSource.CreateLinkedTokenSource(linked.Token))
            {
                head.CancelAfter(_options.HeadTimeout);
                first = await TunnelWire.ReadAsync(stream.Input, DeviceMessage.Parser, head.Token).ConfigureAwait(false);
            }
            if (first?.Register is not { } register)
            {
                await RefuseAsync(stream, Status.BadRequest, "the first message must be a Register", linked.Token).ConfigureAwait(false);
                return;
            }
            Registered reply;
            (registration, reply) = Register(stream, register);
            if (registration is null)
            {
                TunnelLog.RegistrationRefused(_logger, stream.RemotePeer.ToString(), (TunnelStatusCode)reply.Status, reply.Message);
                await TunnelWire.WriteAsync(stream.Output, new ServerMessage { Registered = reply }, linked.Token).ConfigureAwait(false);
                await stream.CompleteWritesAsync(linked.Token).ConfigureAwait(false);
                return;
            }
            await registration.SendAsync(new ServerMessage { Registered = reply }, linked.Token).ConfigureAwait(false);
            TunnelLog.DeviceRegistered(_logger, registration.Device, registration.Peer.ToString(), registration.Services.Count);
            _metrics.DeviceOnline(true);
            StartServing(registration);
            using var both = CancellationTokenSource.CreateLinkedTokenSource(linked.Token, registration.Stopping.Token);
            while (true)
            {
                DeviceMessage? message;
                using (var silence = CancellationTokenSource.CreateLinkedTokenSource(both.Token))
                {
                    silence.CancelAfter(_options.DeviceTimeout);
                    message = await TunnelWire.ReadAsync(stream.Input, DeviceMessage.Parser, silence.Token).ConfigureAwait(false);
                }
                if (message is null)
                {
                    break;
                }
                if (message.Ping is { } ping)
                {
                    await registration.SendAsync(new ServerMessage { Pong = ping }, both.Token).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or WireFormatException or ObjectDisposedException
            or InvalidOperationException or Muxing.StreamResetException or Muxing.MuxerClosedException)
        {
            TunnelLog.ControlFailed(_logger, e.Message);
        }
        finally
        {
            if (registration is not null)
            {
                if (Unregister(registration))
                {
                    TunnelLog.DeviceOffline(_logger, registration.Device, registration.Peer.ToString());
                }
                _metrics.DeviceOnline(false);
                await registration.Tasks.WhenAllAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
                WriteStatusSafely();
                registration.Dispose();
            }
        }
    }

    private static async Task RefuseAsync(P2PStream stream, Status status, string message, CancellationToken cancellationToken)
    {
        await TunnelWire.WriteAsync(stream.Output, new ServerMessage { Registered = new Registered { Status = status, Message = message } },
            cancellationToken).ConfigureAwait(false);
        await stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Checks the token and the services, allocates ports and names, binds the listeners.</summary>
    private (DeviceRegistration? Registration, Registered Reply) Register(P2PStream stream, Register request)
    {
        static (DeviceRegistration?, Registered) Refuse(Status status, string message) =>
            (null, new Registered { Status = status, Message = message });

        string? device = _store.FindDevice(request.Token);
        if (device is null)
        {
            return Refuse(Status.BadToken, "bad token: the token is unknown or revoked");
        }
        if (request.Services.Count == 0 || request.Services.Count > _options.MaxServicesPerDevice)
        {
            return Refuse(Status.BadRequest, $"register between 1 and {_options.MaxServicesPerDevice} services");
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var service in request.Services)
        {
            if (!TunnelNames.IsValidLabel(service.Name) || !names.Add(service.Name))
            {
                return Refuse(Status.BadRequest, $"service name '{service.Name}' is invalid or repeated");
            }
            if (!Enum.IsDefined(service.Kind))
            {
                return Refuse(Status.BadRequest, $"service '{service.Name}' has an unknown kind");
            }
            if (service.Kind == ServiceKind.Http && _options.HttpEndPoint is null)
            {
                return Refuse(Status.BadRequest, "this server has no HTTP front (--http)");
            }
            if (service.Kind == ServiceKind.Https && _options.HttpsEndPoint is null)
            {
                return Refuse(Status.BadRequest, "this server has no TLS front (--https)");
            }
        }

        var registration = new DeviceRegistration(device, stream);
        lock (_lock)
        {
            if (_devices.TryGetValue(device, out var existing))
            {
                if (existing.Peer != stream.RemotePeer)
                {
                    return Refuse(Status.NameTaken, $"name taken: device '{device}' is registered from another peer");
                }
                // The same device again (a new connection after a network change): the newer registration wins, and
                // frees the old one's ports first so it gets them back.
                UnregisterLocked(existing);
                existing.Control.Abort();
            }
            var bound = new List<PublishedService>();
            try
            {
                foreach (var service in request.Services)
                {
                    var kind = TunnelWire.ToPublic(service.Kind);
                    var traffic = TrafficFor(device, service.Name);
                    if (kind is TunnelServiceKind.Http or TunnelServiceKind.Https)
                    {
                        bound.Add(new PublishedService(service.Name, kind, 0, TunnelNames.Hostname(service.Name, device, _options.Domain), traffic));
                        continue;
                    }
                    int? preferred = service.PreferredPort != 0 ? (int)service.PreferredPort : _store.LastPort(device, service.Name, kind);
                    var published = BindPort(service.Name, kind, preferred, traffic);
                    if (published is null)
                    {
                        foreach (var done in bound)
                        {
                            Release(done);
                        }
                        return Refuse(Status.RangeExhausted,
                            $"range exhausted: no free port in {_options.FirstPort}-{_options.LastPort} for '{service.Name}'");
                    }
                    bound.Add(published);
                }
            }
            catch
            {
                foreach (var done in bound)
                {
                    Release(done);
                }
                throw;
            }
            registration.Services.AddRange(bound);
            _devices[device] = registration;
            foreach (var service in bound)
            {
                if (service.Hostname.Length > 0)
                {
                    _names[service.Hostname] = (registration, service);
                }
            }
        }
        var reply = new Registered { Status = Status.Ok, Device = device };
        foreach (var service in registration.Services)
        {
            if (service.Port != 0)
            {
                _store.SavePort(device, service.Name, service.Kind, service.Port);
            }
            var assignment = Assignment(service);
            reply.Assignments.Add(new ServiceAssignment
            {
                Name = service.Name,
                Kind = TunnelWire.ToWire(service.Kind),
                Host = assignment.Kind is TunnelServiceKind.Tcp or TunnelServiceKind.Udp ? assignment.Host : "",
                Port = (uint)assignment.Port,
                Hostname = service.Hostname,
            });
        }
        return (registration, reply);
    }

    /// <summary>Allocates a port (the preferred one when free) and binds it; ports the OS refuses are skipped.</summary>
    private PublishedService? BindPort(string name, TunnelServiceKind kind, int? preferred, TunnelTraffic traffic)
    {
        var refused = new HashSet<int>();
        while (_ports.Allocate(preferred, refused) is { } port)
        {
            var socket = kind == TunnelServiceKind.Udp
                ? new Socket(_options.BindAddress.AddressFamily, SocketType.Dgram, ProtocolType.Udp)
                : new Socket(_options.BindAddress.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                if (kind == TunnelServiceKind.Tcp)
                {
                    // Re-bind at once after a restart although old connections linger in TIME_WAIT.
                    socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                }
                socket.Bind(new IPEndPoint(_options.BindAddress, port));
                if (kind == TunnelServiceKind.Tcp)
                {
                    socket.Listen(1024);
                }
                return new PublishedService(name, kind, port, "", traffic) { Listener = socket };
            }
            catch (SocketException)
            {
                socket.Dispose();
                _ports.Release(port);
                refused.Add(port);
                preferred = null;
            }
        }
        return null;
    }

    private void Release(PublishedService service)
    {
        service.Listener?.Dispose();
        if (service.Port != 0)
        {
            _ports.Release(service.Port);
        }
    }

    /// <summary>Removes a registration; <see langword="true"/> if this call removed it.</summary>
    private bool Unregister(DeviceRegistration registration)
    {
        lock (_lock)
        {
            return UnregisterLocked(registration);
        }
    }

    private bool UnregisterLocked(DeviceRegistration registration)
    {
        if (!registration.TryClose())
        {
            return false;
        }
        if (_devices.TryGetValue(registration.Device, out var current) && ReferenceEquals(current, registration))
        {
            _devices.Remove(registration.Device);
        }
        foreach (var service in registration.Services)
        {
            if (service.Hostname.Length > 0 && _names.TryGetValue(service.Hostname, out var entry) && ReferenceEquals(entry.Device, registration))
            {
                _names.TryRemove(service.Hostname, out _);
            }
            if (service.Port != 0)
            {
                _ports.Release(service.Port);
            }
        }
        return true;
    }
}
