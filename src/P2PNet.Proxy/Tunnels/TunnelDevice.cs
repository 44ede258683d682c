using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Host;
using P2PNet.Host.Internal;
using P2PNet.Peers;
using P2PNet.Proxy.Tunnels.Internal;
using P2PNet.Proxy.Tunnels.Protos;

namespace P2PNet.Proxy.Tunnels;

/// <summary>
/// The device end of reverse tunnels: dials the tunnel server (so NAT is no obstacle), registers its services with its
/// token, keeps the registration alive, re-registers with exponential backoff after a server or network restart (asking
/// for the same ports), and connects each public connection the server streams to it to the service's local endpoint.
/// </summary>
/// <remarks>
/// Thread-safe. <see cref="StartAsync"/> completes with the first assignments (or throws why the server refused);
/// <see cref="Completion"/> completes when the device stops: normally on <see cref="DisposeAsync"/>, faulted with a
/// <see cref="TunnelRegistrationException"/> when the server cut it off for good (revoked token).
/// </remarks>
public sealed partial class TunnelDevice : IAsyncDisposable
{
    private readonly P2PHost _host;
    private readonly TunnelDeviceOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly PeerId _server;
    private readonly IdleSweeper _idle;
    private readonly TaskTracker _connections = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<string, TunnelServiceSpec> _services;
    private volatile IReadOnlyList<TunnelAssignment> _assignments = [];
    private Task? _keeper;
    private int _state;

    /// <summary>Creates the device side; nothing is dialed until <see cref="StartAsync"/>.</summary>
    /// <param name="host">The libp2p host to dial from (owned by the caller, started or not).</param>
    /// <param name="options">The server, the token and the services.</param>
    /// <param name="loggerFactory">Where logs go; none by default.</param>
    /// <param name="timeProvider">Clock for keepalives and backoff; the system clock by default.</param>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public TunnelDevice(P2PHost host, TunnelDeviceOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _host = host;
        _options = options;
        _server = options.Server!.GetPeerId()!;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<TunnelDevice>();
        _time = timeProvider ?? TimeProvider.System;
        _idle = new IdleSweeper(options.IdleTimeout, _time);
        _services = options.Services.ToDictionary(s => s.Name, StringComparer.Ordinal);
    }

    /// <summary>The device name the server knows this device by (from its token), after the first registration.</summary>
    public string? DeviceName { get; private set; }

    /// <summary>Where the server published the services, as of the latest registration.</summary>
    public IReadOnlyList<TunnelAssignment> Assignments => _assignments;

    /// <summary>How many times the device registered (1 after <see cref="StartAsync"/>, more after reconnections).</summary>
    public int Registrations => Volatile.Read(ref _registrations);

    private int _registrations;

    /// <summary>Raised after every successful registration (the first and each re-registration) with its assignments.</summary>
    public event Action<IReadOnlyList<TunnelAssignment>>? Registered;

    /// <summary>Completes when the device stops; faults with <see cref="TunnelRegistrationException"/> when it was cut off.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Registers with the server and keeps the registration alive in the background.</summary>
    /// <returns>The first assignments.</returns>
    /// <exception cref="TunnelRegistrationException">The server refused (bad token, name taken, range exhausted, …).</exception>
    /// <exception cref="IOException">The server is unreachable (also a <see cref="System.Net.Sockets.SocketException"/> or <see cref="TimeoutException"/>).</exception>
    public async Task<IReadOnlyList<TunnelAssignment>> StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("The tunnel device was started already.");
        }
        _host.SetStreamHandler(TunnelWire.ConnectionProtocol, HandleConnectionAsync);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        P2PStream control;
        try
        {
            control = await RegisterAsync(linked.Token).ConfigureAwait(false);
        }
        catch
        {
            _host.RemoveStreamHandler(TunnelWire.ConnectionProtocol);
            _completion.TrySetResult();
            throw;
        }
        _keeper = KeepAsync(control, _stopping.Token);
        return _assignments;
    }

    /// <summary>Leaves the server, closes every tunnelled connection and waits for them.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _state, 2) == 2)
        {
            return;
        }
        _host.RemoveStreamHandler(TunnelWire.ConnectionProtocol);
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_keeper is not null)
        {
            await _keeper.ConfigureAwait(false);
        }
        await _connections.WhenAllAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        _idle.Dispose();
        _completion.TrySetResult();
        _stopping.Dispose();
    }

    /// <summary>Dials the server, sends Register (asking for the previous ports) and reads the answer.</summary>
    private async Task<P2PStream> RegisterAsync(CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_options.ResponseTimeout);
        P2PStream stream;
        try
        {
            var connection = await _host.DialAsync(_options.Server!, deadline.Token).ConfigureAwait(false);
            stream = await connection.OpenStreamAsync(TunnelWire.ControlProtocol, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"the tunnel server {_options.Server} did not answer within {_options.ResponseTimeout.TotalSeconds:0} s");
        }
        try
        {
            var register = new Register { Token = _options.Token };
            var previous = _assignments;
            foreach (var service in _options.Services)
            {
                int port = previous.FirstOrDefault(a => a.Service == service.Name && a.Kind == service.Kind)?.Port ?? 0;
                register.Services.Add(new ServiceRequest { Name = service.Name, Kind = TunnelWire.ToWire(service.Kind), PreferredPort = (uint)port });
            }
            await TunnelWire.WriteAsync(stream.Output, new DeviceMessage { Register = register }, deadline.Token).ConfigureAwait(false);
            var answer = await TunnelWire.ReadAsync(stream.Input, ServerMessage.Parser, deadline.Token).ConfigureAwait(false);
            if (answer?.Registered is not { } registered)
            {
                throw new IOException("the tunnel server ended the control stream without answering the registration");
            }
            if (registered.Status != Status.Ok)
            {
                throw new TunnelRegistrationException((TunnelStatusCode)registered.Status, registered.Message);
            }
            var assignments = registered.Assignments
                .Select(a => new TunnelAssignment(a.Name, TunnelWire.ToPublic(a.Kind), a.Hostname.Length > 0 ? a.Hostname : a.Host, (int)a.Port))
                .ToList();
            DeviceName = registered.Device;
            _assignments = assignments;
            Interlocked.Increment(ref _registrations);
            Registered?.Invoke(assignments);
            return stream;
        }
        catch (Exception e)
        {
            stream.Abort();
            await stream.DisposeAsync().ConfigureAwait(false);
            if (e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"the tunnel server did not answer the registration within {_options.ResponseTimeout.TotalSeconds:0} s", e);
            }
            throw;
        }
    }

    /// <summary>Keeps the registration alive; after a loss re-registers with backoff until stopped or cut off.</summary>
    private async Task KeepAsync(P2PStream control, CancellationToken cancellationToken)
    {
        TimeSpan delay = _options.InitialReconnectDelay;
        P2PStream? current = control;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                if (current is not null)
                {
                    try
                    {
                        await PingUntilLostAsync(current, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is not TunnelRegistrationException and not OutOfMemoryException
                        && !(e is OperationCanceledException && cancellationToken.IsCancellationRequested))
                    {
                        TunnelLog.ControlFailed(_logger, e.Message);
                    }
                    finally
                    {
                        current.Abort();
                        await current.DisposeAsync().ConfigureAwait(false);
                        current = null;
                    }
                    delay = _options.InitialReconnectDelay;
                }
                if (cancellationToken.IsCancellationRequested)
                {
                    break;
                }
                // Jitter (±20 %) keeps many devices from re-registering in lockstep after a server restart.
                TimeSpan wait = delay * (0.8 + 0.4 * Random.Shared.NextDouble());
                await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
                try
                {
                    current = await RegisterAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (TunnelRegistrationException e) when (e.Status is TunnelStatusCode.BadToken or TunnelStatusCode.Revoked)
                {
                    throw;
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    TunnelLog.RegistrationRetry(_logger, delay, e.Message);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxReconnectDelay.Ticks));
                }
            }
            _completion.TrySetResult();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _completion.TrySetResult();
        }
        catch (TunnelRegistrationException e)
        {
            _completion.TrySetException(e);
        }
        finally
        {
            if (current is not null)
            {
                current.Abort();
                await current.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Pings every keepalive interval and reads the answers; returns or throws when the registration is lost.</summary>
    private async Task PingUntilLostAsync(P2PStream control, CancellationToken cancellationToken)
    {
        using var session = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        long lastHeard = _time.GetTimestamp();
        ulong nonce = 0;
        var read = TunnelWire.ReadAsync(control.Input, ServerMessage.Parser, session.Token).AsTask();
        try
        {
            while (true)
            {
                var tick = Task.Delay(_options.KeepAliveInterval, _time, session.Token);
                var done = await Task.WhenAny(read, tick).ConfigureAwait(false);
                if (done == read)
                {
                    var message = await read.ConfigureAwait(false);
                    if (message is null)
                    {
                        throw new IOException("the tunnel server closed the control stream");
                    }
                    if (message.Closed is { } closed)
                    {
                        throw new TunnelRegistrationException((TunnelStatusCode)closed.Status, "cut off by the tunnel server: " + closed.Message);
                    }
                    lastHeard = _time.GetTimestamp();
                    read = TunnelWire.ReadAsync(control.Input, ServerMessage.Parser, session.Token).AsTask();
                    continue;
                }
                await tick.ConfigureAwait(false);
                if (_time.GetElapsedTime(lastHeard) > _options.ResponseTimeout + _options.KeepAliveInterval)
                {
                    throw new TimeoutException("the tunnel server stopped answering keepalives");
                }
                await TunnelWire.WriteAsync(control.Output, new DeviceMessage { Ping = new Ping { Nonce = ++nonce } }, session.Token).ConfigureAwait(false);
            }
        }
        finally
        {
            await session.CancelAsync().ConfigureAwait(false);
            control.Abort();
            try
            {
                await read.ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The pending read ends with the stream; its outcome no longer matters.
            }
        }
    }
}
