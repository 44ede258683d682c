using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Host;
using P2PNet.Host.Internal;
using P2PNet.Proxy.Tunnels.Internal;
using P2PNet.Proxy.Tunnels.Protos;

namespace P2PNet.Proxy.Tunnels;

/// <summary>
/// The public end of reverse tunnels (the "P2P VPS" server): devices behind NAT dial this host, register with a token
/// over <c>/p2pnet/tunnel/1.0.0</c>, and get a public TCP/UDP port per TCP/UDP service and a name
/// <c>&lt;service&gt;.&lt;device&gt;.&lt;domain&gt;</c> per HTTP/HTTPS service. Every public connection becomes a stream
/// on the device's own connection. See docs/tunnels.md.
/// </summary>
/// <remarks>
/// Thread-safe. <see cref="StartAsync"/> registers the protocol handler on the host and binds the fronts;
/// <see cref="DisposeAsync"/> unregisters, closes every public listener and connection and waits for them.
/// The host is the caller's: start and stop it around the server.
/// </remarks>
public sealed partial class TunnelServer : IAsyncDisposable
{
    private readonly P2PHost _host;
    private readonly TunnelTokenStore _store;
    private readonly TunnelServerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TunnelMetrics _metrics;
    private readonly PortAllocator _ports;
    private readonly IdleSweeper _idle;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, DeviceRegistration> _devices = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (DeviceRegistration Device, PublishedService Service)> _names = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Device, string Service), TunnelTraffic> _traffic = new();
    private readonly ConcurrentDictionary<(string Device, string Service), (long In, long Out, long Timestamp, double RateIn, double RateOut)> _rates = new();
    private readonly TaskTracker _tasks = new();
    private readonly CancellationTokenSource _stopping = new();
    private Socket? _httpListener;
    private Socket? _tlsListener;
    private int _state;

    /// <summary>Creates the server; nothing is served until <see cref="StartAsync"/>.</summary>
    /// <param name="host">The libp2p host devices dial (owned by the caller).</param>
    /// <param name="store">The token database (owned by the caller).</param>
    /// <param name="options">Settings; <see cref="TunnelServerOptions.PublicHost"/> is required.</param>
    /// <param name="loggerFactory">Where logs go; none by default.</param>
    /// <param name="meterFactory">Where metrics go (meter <c>P2PNet.Proxy.Tunnels</c>); a process-wide meter by default.</param>
    /// <param name="timeProvider">Clock for timeouts and rates; the system clock by default.</param>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public TunnelServer(P2PHost host, TunnelTokenStore store, TunnelServerOptions options, ILoggerFactory? loggerFactory = null,
        IMeterFactory? meterFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _host = host;
        _store = store;
        _options = options;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<TunnelServer>();
        _time = timeProvider ?? TimeProvider.System;
        _metrics = new TunnelMetrics(meterFactory);
        _ports = new PortAllocator(options.FirstPort, options.LastPort);
        _idle = new IdleSweeper(options.IdleTimeout, _time);
    }

    /// <summary>The HTTP front's bound endpoint (after <see cref="StartAsync"/>), or <see langword="null"/> when none.</summary>
    public IPEndPoint? HttpEndPoint => (IPEndPoint?)_httpListener?.LocalEndPoint;

    /// <summary>The TLS front's bound endpoint (after <see cref="StartAsync"/>), or <see langword="null"/> when none.</summary>
    public IPEndPoint? HttpsEndPoint => (IPEndPoint?)_tlsListener?.LocalEndPoint;

    /// <summary>Devices registered now.</summary>
    public IReadOnlyList<string> Devices
    {
        get
        {
            lock (_lock)
            {
                return [.. _devices.Keys.Order(StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>Binds the fronts, serves <c>/p2pnet/tunnel/1.0.0</c> on the host and starts the status loop.</summary>
    /// <exception cref="SocketException">A front's endpoint cannot be bound.</exception>
    public ValueTask StartAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            ObjectDisposedException.ThrowIf(_state > 1, this);
            return ValueTask.CompletedTask;
        }
        try
        {
            if (_options.HttpEndPoint is { } http)
            {
                _httpListener = Listen(http);
                _tasks.Track(AcceptFrontAsync(_httpListener, TunnelServiceKind.Http, _stopping.Token));
            }
            if (_options.HttpsEndPoint is { } https)
            {
                _tlsListener = Listen(https);
                _tasks.Track(AcceptFrontAsync(_tlsListener, TunnelServiceKind.Https, _stopping.Token));
            }
        }
        catch
        {
            _httpListener?.Dispose();
            _tlsListener?.Dispose();
            throw;
        }
        _host.SetStreamHandler(TunnelWire.ControlProtocol, HandleControlAsync);
        _tasks.Track(StatusLoopAsync(_stopping.Token));
        return ValueTask.CompletedTask;
    }

    /// <summary>Every tunnel of every device registered in this run, with its traffic and current rates.</summary>
    public IReadOnlyList<TunnelStatus> GetStatus()
    {
        var now = _time.GetUtcNow();
        var rows = new List<TunnelStatus>();
        DeviceRegistration[] devices;
        lock (_lock)
        {
            devices = [.. _devices.Values];
        }
        foreach (var device in devices)
        {
            foreach (var service in device.Services)
            {
                var traffic = service.Traffic;
                var rate = _rates.GetValueOrDefault((device.Device, service.Name));
                rows.Add(new TunnelStatus
                {
                    Device = device.Device,
                    Service = service.Name,
                    Kind = service.Kind,
                    Address = Assignment(service).Address,
                    PeerId = device.Peer.ToString(),
                    Online = !device.IsClosed,
                    ActiveConnections = traffic.Active,
                    TotalConnections = traffic.Total,
                    BytesIn = traffic.BytesIn,
                    BytesOut = traffic.BytesOut,
                    BytesInPerSecond = rate.RateIn,
                    BytesOutPerSecond = rate.RateOut,
                    Updated = now,
                });
            }
        }
        return rows;
    }

    /// <summary>Stops serving: unregisters the protocol, closes the fronts, every device's listeners and connections.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _state, 2) == 2)
        {
            return;
        }
        _host.RemoveStreamHandler(TunnelWire.ControlProtocol);
        await _stopping.CancelAsync().ConfigureAwait(false);
        _httpListener?.Dispose();
        _tlsListener?.Dispose();
        DeviceRegistration[] devices;
        lock (_lock)
        {
            devices = [.. _devices.Values];
        }
        foreach (var device in devices)
        {
            Unregister(device);
            device.Control.Abort();
        }
        foreach (var device in devices)
        {
            await device.Tasks.WhenAllAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        await _tasks.WhenAllAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        _idle.Dispose();
        WriteStatusSafely();
        _stopping.Dispose();
    }

    private TunnelAssignment Assignment(PublishedService service) => service.Kind is TunnelServiceKind.Tcp or TunnelServiceKind.Udp
        ? new TunnelAssignment(service.Name, service.Kind, _options.PublicHost, service.Port)
        : new TunnelAssignment(service.Name, service.Kind, service.Hostname, 0);

    private static Socket Listen(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(endPoint);
            socket.Listen(1024);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private TunnelTraffic TrafficFor(string device, string service) =>
        _traffic.GetOrAdd((device, service), key => new TunnelTraffic(
            _options.MaxBytesPerSecondPerTunnel > 0 ? new ByteRateLimiter(_options.MaxBytesPerSecondPerTunnel, _time) : null,
            _options.MaxBytesPerSecondPerTunnel > 0 ? new ByteRateLimiter(_options.MaxBytesPerSecondPerTunnel, _time) : null,
            _metrics, key.Device, key.Service));

    private async Task StatusLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.StatusInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                CheckRevocations();
                UpdateRates();
                WriteStatusSafely();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Cuts off devices whose token was revoked (by this process or another one sharing the database).</summary>
    internal void CheckRevocations()
    {
        DeviceRegistration[] devices;
        lock (_lock)
        {
            devices = [.. _devices.Values];
        }
        foreach (var device in devices)
        {
            bool active;
            try
            {
                active = _store.IsActive(device.Device);
            }
            catch (Microsoft.Data.Sqlite.SqliteException)
            {
                continue; // Busy: look again next time.
            }
            if (!active)
            {
                TunnelLog.DeviceRevoked(_logger, device.Device);
                _tasks.Track(CutOffAsync(device));
            }
        }
    }

    private async Task CutOffAsync(DeviceRegistration device)
    {
        // Tell the device first: unregistering ends its control loop, which disposes the registration and would race
        // the Closed message (the device then re-registered and saw BadToken instead of Revoked).
        try
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await device.SendAsync(new ServerMessage { Closed = new Closed { Status = Status.Revoked, Message = "the device's token was revoked" } },
                deadline.Token).ConfigureAwait(false);
            await device.Control.CompleteWritesAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException
            or Muxing.StreamResetException or Muxing.MuxerClosedException)
        {
            device.Control.Abort();
        }
        finally
        {
            Unregister(device);
        }
    }

    private void UpdateRates()
    {
        long now = _time.GetTimestamp();
        foreach (var (key, traffic) in _traffic)
        {
            long bytesIn = traffic.BytesIn, bytesOut = traffic.BytesOut;
            var last = _rates.GetValueOrDefault(key);
            double seconds = last.Timestamp == 0 ? 0 : (double)(now - last.Timestamp) / _time.TimestampFrequency;
            _rates[key] = seconds <= 0
                ? (bytesIn, bytesOut, now, 0, 0)
                : (bytesIn, bytesOut, now, (bytesIn - last.In) / seconds, (bytesOut - last.Out) / seconds);
        }
    }

    private void WriteStatusSafely()
    {
        try
        {
            _store.WriteStatus(GetStatus());
        }
        catch (Microsoft.Data.Sqlite.SqliteException)
        {
            // Busy or read-only: the next interval writes again.
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
