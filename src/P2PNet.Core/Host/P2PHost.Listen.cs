using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using P2PNet.Host.Internal;
using P2PNet.Multiformats;
using P2PNet.Resources;
using P2PNet.Resources.Internal;
using P2PNet.Transports;

namespace P2PNet.Host;

public sealed partial class P2PHost
{
    /// <summary>Our listen addresses, each ending in <c>/p2p/&lt;our id&gt;</c>. An unspecified address (0.0.0.0, ::)
    /// is expanded to the machine's interface addresses.</summary>
    public IReadOnlyList<Multiaddr> ListenAddresses
    {
        get
        {
            Multiaddr[] bound;
            lock (_lock)
            {
                bound = [.. _listeners.Select(l => l.Listener.LocalAddress)];
            }
            return [.. bound.SelectMany(ExpandUnspecified).Distinct().Select(a => a.WithPeerId(PeerId)), .. AdvertisedObservedAddresses, .. CircuitAddresses];
        }
    }

    /// <summary>Starts listening on <paramref name="address"/> (port 0 picks a free port) and returns the addresses
    /// actually bound, each ending in <c>/p2p/&lt;our id&gt;</c>.</summary>
    /// <exception cref="NotSupportedException">No transport can listen on the address.</exception>
    /// <exception cref="IOException">The address cannot be bound.</exception>
    public async ValueTask<IReadOnlyList<Multiaddr>> ListenAsync(Multiaddr address, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        ObjectDisposedException.ThrowIf(_state >= 2, this);
        var bare = address.WithoutPeerId();
        var transport = _transports.FirstOrDefault(t => t.CanListen(bare))
            ?? throw new NotSupportedException($"No transport can listen on {address}. Supported: /ip4|ip6/<ip>/tcp/<port>[/ws].");
        // Bound before the services start, so that their first dials (bootstrap) already leave from this port when
        // the transport reuses it (TcpTransportOptions.PortReuse); connections wait in the backlog meanwhile.
        ITransportListener listener = await transport.ListenAsync(bare, cancellationToken).ConfigureAwait(false);
        try
        {
            await EnsureStartedAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await listener.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        bool stopping;
        lock (_lock)
        {
            stopping = _state >= 2;
            if (!stopping)
            {
                _listeners.Add((listener, AcceptLoopAsync(listener)));
            }
        }
        if (stopping)
        {
            await listener.DisposeAsync().ConfigureAwait(false); // the host stopped meanwhile: its listeners are closed
            throw new ObjectDisposedException(nameof(P2PHost), "The host stopped while it was starting to listen.");
        }
        HostLog.Listening(_logger, listener.LocalAddress);
        PublishAddresses([listener.LocalAddress], removed: false);
        _identify.PushToAll();
        return [.. ExpandUnspecified(listener.LocalAddress).Select(a => a.WithPeerId(PeerId))];
    }

    /// <summary>Closes every listener (open connections stay); returns the addresses that were closed.</summary>
    public async ValueTask<IReadOnlyList<Multiaddr>> StopListeningAsync(CancellationToken cancellationToken = default)
    {
        (ITransportListener Listener, Task AcceptLoop)[] listeners;
        lock (_lock)
        {
            listeners = [.. _listeners];
            _listeners.Clear();
        }
        foreach (var (listener, _) in listeners)
        {
            await listener.DisposeAsync().ConfigureAwait(false);
        }
        await Task.WhenAll(listeners.Select(l => l.AcceptLoop)).WaitAsync(cancellationToken).ConfigureAwait(false);
        var closed = listeners.Select(l => l.Listener.LocalAddress).ToArray();
        PublishAddresses(closed, removed: true);
        return closed;
    }

    private void PublishAddresses(Multiaddr[] changed, bool removed)
    {
        if (changed.Length == 0)
        {
            return;
        }
        var withId = changed.SelectMany(ExpandUnspecified).Select(a => a.WithPeerId(PeerId)).ToArray();
        Events.Publish(new LocalAddressesUpdated(ListenAddresses, removed ? [] : withId, removed ? withId : []));
    }

    private async Task AcceptLoopAsync(ITransportListener listener)
    {
        await Task.Yield();
        while (!_stopping.IsCancellationRequested)
        {
            TransportConnection raw;
            try
            {
                raw = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException)
            {
                return;
            }
            catch (IOException e)
            {
                HostLog.AcceptFailed(_logger, listener.LocalAddress, e.Message);
                continue;
            }
            if (Options.ConnectionGater is { } gater && !gater.AllowAccept(raw.RemoteAddress))
            {
                LogInboundRefused(raw.RemoteAddress, "refused by the connection gater");
                raw.Abort();
                await raw.DisposeAsync().ConfigureAwait(false);
                continue;
            }
            ConnectionResources resources;
            try
            {
                // A handshake slot of the remote's IP and of the host: one address flooding us with silent connections
                // fills only its own share, and outbound dials never take from these budgets.
                resources = _resources.OpenInbound(raw.RemoteAddress.TryGetTcpEndPoint(out var endPoint) ? endPoint.Address : null);
            }
            catch (ResourceLimitExceededException)
            {
                raw.Abort(); // counted and logged (at a bounded rate) by the resource manager
                await raw.DisposeAsync().ConfigureAwait(false);
                continue;
            }
            _background.Track(AcceptOneAsync(raw, resources));
        }
    }

    private async Task AcceptOneAsync(TransportConnection raw, ConnectionResources resources)
    {
        try
        {
            // Inbound connections still in their handshake hold a slot too (this one is among them): otherwise a burst of
            // dials all pass the check before any of them is registered and the limit is exceeded.
            if (ConnectionCount + _resources.PendingInbound - 1 >= Options.MaxConnections)
            {
                LogInboundRefused(raw.RemoteAddress, $"the limit of {Options.MaxConnections} connections is reached");
                resources.Dispose();
                raw.Abort();
                await raw.DisposeAsync().ConfigureAwait(false);
                return;
            }
            await UpgradeAsync(raw, ConnectionDirection.Inbound, expectedPeer: null, resources, limited: false, _stopping.Token).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // a failed inbound handshake is logged and affects nobody else
        catch (Exception e)
#pragma warning restore CA1031
        {
            if (_resources.LogLimiter.TryAcquire("host.inbound-handshake-failed", out long suppressed))
            {
                HostLog.InboundUpgradeFailed(_logger, raw.RemoteAddress, e.Message, suppressed);
            }
        }
    }

    /// <summary>Refusals are peer-triggered: bounded lines per interval, with a count of those left out.</summary>
    private void LogInboundRefused(Multiaddr address, string reason)
    {
        if (_resources.LogLimiter.TryAcquire("host.inbound-refused", out long suppressed))
        {
            HostLog.InboundRefused(_logger, address, reason, suppressed);
        }
    }

    private static IEnumerable<Multiaddr> ExpandUnspecified(Multiaddr address)
    {
        if (!address.TryGetTcpEndPoint(out var endPoint) || !endPoint.Address.Equals(IPAddress.Any) && !endPoint.Address.Equals(IPAddress.IPv6Any))
        {
            return [address];
        }
        var family = endPoint.AddressFamily;
        var rest = Multiaddr.Create(address.Components.Skip(2));
        var result = new List<Multiaddr>();
        try
        {
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            {
                if (nic.OperationalStatus != OperationalStatus.Up)
                {
                    continue;
                }
                foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
                {
                    var ip = unicast.Address;
                    if (ip.AddressFamily == family && !(family == AddressFamily.InterNetworkV6 && ip.IsIPv6LinkLocal))
                    {
                        result.Add(Multiaddr.FromTcpEndPoint(new IPEndPoint(ip, endPoint.Port)).Encapsulate(rest));
                    }
                }
            }
        }
        catch (NetworkInformationException)
        {
            return [address];
        }
        return result.Count > 0 ? result : [address];
    }
}
