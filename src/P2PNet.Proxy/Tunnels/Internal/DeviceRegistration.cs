using System.Net.Sockets;
using P2PNet.Host;
using P2PNet.Host.Internal;
using P2PNet.Peers;
using P2PNet.Proxy.Tunnels.Protos;

namespace P2PNet.Proxy.Tunnels.Internal;

/// <summary>
/// One registered device on the server: its control stream, its connection (where public connections become streams),
/// its services with their listeners, and the tasks serving them. Closing it releases its ports and names.
/// </summary>
internal sealed class DeviceRegistration(string device, P2PStream control) : IDisposable
{
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private int _closed;

    public string Device => device;

    public PeerId Peer => control.RemotePeer;

    public P2PConnection Connection => control.Connection;

    public P2PStream Control => control;

    public List<PublishedService> Services { get; } = [];

    public CancellationTokenSource Stopping { get; } = new();

    public TaskTracker Tasks { get; } = new();

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>Sends a control message (pongs and the revocation notice share the stream).</summary>
    public async Task SendAsync(ServerMessage message, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await TunnelWire.WriteAsync(control.Output, message, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Opens a stream to the device for one public connection or UDP flow, announcing the service.</summary>
    public async Task<P2PStream> OpenAsync(string service, string remote, CancellationToken cancellationToken)
    {
        var stream = await Connection.OpenStreamAsync(TunnelWire.ConnectionProtocol, cancellationToken).ConfigureAwait(false);
        try
        {
            await TunnelWire.WriteAsync(stream.Output, new ConnectionOpen { Service = service, Remote = remote }, cancellationToken).ConfigureAwait(false);
            return stream;
        }
        catch
        {
            stream.Abort();
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Frees the write lock; call after every task of the registration ended. <see cref="Stopping"/> stays
    /// usable (it has no timer to free) because a front may still link to it while the registration goes away.</summary>
    public void Dispose() => _writeLock.Dispose();

    /// <summary>Marks the registration closed; <see langword="true"/> for the first caller only.</summary>
    public bool TryClose()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return false;
        }
        Stopping.Cancel();
        foreach (var service in Services)
        {
            service.Listener?.Dispose();
        }
        return true;
    }
}

/// <summary>One service of a registered device as published by the server.</summary>
internal sealed class PublishedService(string name, TunnelServiceKind kind, int port, string hostname, TunnelTraffic traffic)
{
    public string Name => name;

    public TunnelServiceKind Kind => kind;

    /// <summary>The public port (TCP, UDP) or 0.</summary>
    public int Port => port;

    /// <summary>The public hostname (HTTP, HTTPS) or empty.</summary>
    public string Hostname => hostname;

    public TunnelTraffic Traffic => traffic;

    /// <summary>The bound TCP listener or UDP socket (TCP, UDP).</summary>
    public Socket? Listener { get; set; }
}
