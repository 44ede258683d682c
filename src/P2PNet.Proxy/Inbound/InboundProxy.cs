using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Proxy.Inbound.Internal;
using P2PNet.Vpn;
using P2PNet.Vpn.NetStack;

namespace P2PNet.Proxy.Inbound;

/// <summary>
/// The inbound proxy of the inbound-network-access design: a VPN member with public addresses that binds probe sockets
/// (proving it owns an endpoint) and gateway sockets (forwarding public TCP connections and UDP flows to a service inside
/// a VPN through the proxy's user-space TCP/IP stack), and meters the traffic per connection, activity, VPN and overall.
/// </summary>
/// <remarks>
/// <para>The management REST API (<c>MapInboundProxyApi</c>, <see cref="InboundProxyApiServer"/>) is a thin layer over
/// this class; errors are <see cref="InboundProxyException"/>s, which the API maps to 400/404/409.</para>
/// <para>Thread-safe: changes (binding and unbinding sockets) run one at a time; queries run at any time. Public sockets
/// share per-source-IP limits (<see cref="InboundProxyOptions"/>). <see cref="DisposeAsync"/> unbinds every socket and
/// resets every forwarded connection; the VPNs and stacks given to <see cref="AddVpn"/> stay the caller's.</para>
/// </remarks>
public sealed partial class InboundProxy : IAsyncDisposable
{
    private readonly InboundProxyOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly long _started;
    private readonly SemaphoreSlim _changes = new(1, 1);
    private readonly Lock _state = new();
    private readonly Dictionary<string, VpnScope> _vpns = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ActivityScope> _activities = new(StringComparer.Ordinal);
    private readonly Dictionary<(InboundProtocol, IPEndPoint), ProbeSocket> _probes = [];
    private readonly Dictionary<(InboundProtocol, IPEndPoint), GatewaySocket> _gateways = [];
    private readonly SourceLimiter _sources;
    private readonly BandwidthMeter _total;
    private readonly RetiredCounts _retired = new();
    private readonly ITimer _sampler;
    private readonly Meter _meter;
    private long _activitiesServed;
    private bool _disposed;

    /// <summary>Creates a proxy with no VPN and no sockets.</summary>
    /// <param name="options">Limits and timeouts; defaults when null.</param>
    /// <param name="loggerFactory">Where logs go; none by default.</param>
    /// <param name="timeProvider">Clock for rates, idle timeouts and rate limits; the system clock by default.</param>
    /// <param name="meterFactory">Creates the <c>P2PNet.Proxy.Inbound</c> meter; a meter of its own when null.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public InboundProxy(InboundProxyOptions? options = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null,
        IMeterFactory? meterFactory = null)
    {
        _options = options ?? new InboundProxyOptions();
        _options.Validate();
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<InboundProxy>();
        _time = timeProvider ?? TimeProvider.System;
        _started = _time.GetTimestamp();
        _sources = new SourceLimiter(_options.MaxConnectionsPerSource, _options.ConnectionRatePerSource, _time);
        _total = new BandwidthMeter(_time);
        // Five samples span a window: each sample is a fifth of it old when it drops out of the ring.
        TimeSpan period = _options.RateWindow / 4;
        _sampler = _time.CreateTimer(_ => Sample(), null, period, period);
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        CreateInstruments();
    }

    /// <summary>The name of the meter the proxy reports on (<c>P2PNet.Proxy.Inbound</c>).</summary>
    public const string MeterName = Diagnostics.P2PNetTelemetry.InboundProxyMeterName;

    /// <summary>The options in force.</summary>
    public InboundProxyOptions Options => _options;

    /// <summary>Makes a VPN the proxy is a member of usable for gateway sockets: <paramref name="stack"/> is the
    /// user-space TCP/IP stack on the proxy's address in it (for instance on
    /// <see cref="UserSpacePacketDevice.ApplicationEnd"/>).</summary>
    /// <param name="vpn">The started or joined membership; its routing table checks each gateway's <c>RemoteAddr</c>.</param>
    /// <param name="stack">The started stack.</param>
    /// <exception cref="InboundProxyException">The VPN has no id yet (not joined), or is added already (<see cref="InboundProxyError.Conflict"/>).</exception>
    public void AddVpn(VpnEndpoint vpn, IPStack stack)
    {
        ArgumentNullException.ThrowIfNull(vpn);
        ArgumentNullException.ThrowIfNull(stack);
        ObjectDisposedException.ThrowIf(_disposed, this);
        string vpnId = vpn.VpnId ?? throw new InboundProxyException(InboundProxyError.InvalidArgument,
            "The VPN has no id yet: start or join it before adding it to the proxy.", nameof(vpn));
        lock (_state)
        {
            if (!_vpns.TryAdd(vpnId, new VpnScope(vpnId, vpn, stack, new BandwidthMeter(_time, _total))))
            {
                throw new InboundProxyException(InboundProxyError.Conflict, $"VPN {vpnId} is added already.", nameof(vpn));
            }
        }
    }

    /// <summary>The VPNs the proxy is a member of.</summary>
    public IReadOnlyList<InboundVpnInfo> Vpns
    {
        get
        {
            lock (_state)
            {
                return [.. _vpns.Values.Select(v => new InboundVpnInfo(v.VpnId, v.Stack.Address.ToString()))];
            }
        }
    }

    /// <summary><c>tcp/1.2.3.4:80</c>, <c>udp/[2001:db8::1]:53</c>: how the API names a socket.</summary>
    public static string FormatSocket(InboundProtocol protocol, IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        return $"{FormatProtocol(protocol)}/{endPoint}";
    }

    /// <summary><c>tcp</c> or <c>udp</c>.</summary>
    public static string FormatProtocol(InboundProtocol protocol) => protocol == InboundProtocol.Tcp ? "tcp" : "udp";

    /// <summary>Parses <c>tcp</c> or <c>udp</c> (any case).</summary>
    /// <exception cref="InboundProxyException"><see cref="InboundProxyError.InvalidArgument"/> naming <c>proto</c>.</exception>
    public static InboundProtocol ParseProtocol(string? text) => text?.ToLowerInvariant() switch
    {
        "tcp" => InboundProtocol.Tcp,
        "udp" => InboundProtocol.Udp,
        _ => throw new InboundProxyException(InboundProxyError.InvalidArgument, $"'{text}' is not a protocol: use tcp or udp.", "proto"),
    };

    /// <summary>Parses a socket address, <c>IP:PORT</c> with an IPv6 address in brackets; the port may not be 0 (the
    /// address names the socket in the API).</summary>
    /// <param name="text">The address.</param>
    /// <param name="field">The field to name in the error.</param>
    /// <exception cref="InboundProxyException"><see cref="InboundProxyError.InvalidArgument"/> naming <paramref name="field"/>.</exception>
    public static IPEndPoint ParseEndPoint(string? text, string field = "addr")
    {
        if (text is null || !IPEndPoint.TryParse(text, out var endPoint) || endPoint.Port == 0
            || !text.EndsWith(":" + endPoint.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            || (endPoint.AddressFamily == AddressFamily.InterNetworkV6 && !text.StartsWith('[')))
        {
            throw new InboundProxyException(InboundProxyError.InvalidArgument,
                $"'{text}' is not an address: give IP:PORT with a port from 1 to 65535 (an IPv6 address in brackets, [2001:db8::1]:80).", field);
        }
        return endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port) : endPoint;
    }

    /// <summary>Unbinds every socket and resets every forwarded connection.</summary>
    public async ValueTask DisposeAsync()
    {
        await _changes.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            List<IAsyncDisposable> sockets;
            lock (_state)
            {
                sockets = [.. _probes.Values, .. _gateways.Values.Select(g => new GatewayDisposer(g))];
                _probes.Clear();
                _gateways.Clear();
            }
            foreach (var socket in sockets)
            {
                await socket.DisposeAsync().ConfigureAwait(false);
            }
            await _sampler.DisposeAsync().ConfigureAwait(false);
            _meter.Dispose();
        }
        finally
        {
            _changes.Release();
        }
    }

    private async Task<T> ChangeAsync<T>(Func<Task<T>> change, CancellationToken cancellationToken)
    {
        await _changes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return await change().ConfigureAwait(false);
        }
        finally
        {
            _changes.Release();
        }
    }

    private int SocketCountLocked => _probes.Count + _gateways.Count;

    private static InboundProxyException SocketNotFound(InboundProtocol protocol, IPEndPoint endPoint, string kind) =>
        new(InboundProxyError.NotFound, $"No {kind} socket at {FormatSocket(protocol, endPoint)}.", "addr");

    private static InboundProxyException BindFailed(InboundProtocol protocol, IPEndPoint endPoint, SocketException e) =>
        new(InboundProxyError.BindFailed, $"Cannot bind {FormatSocket(protocol, endPoint)}: {e.Message} ({e.SocketErrorCode}).", "addr", e);

    private sealed class GatewayDisposer(GatewaySocket gateway) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => gateway.DisposeAsync();
    }
}
