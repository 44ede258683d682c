using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PNet.Host;
using P2PNet.Vpn.Tun;

namespace P2PNet.Vpn.Hosting;

/// <summary>
/// Runs the VPN of <c>services.AddVpn(…)</c> with the application: after the host has started, creates a
/// <see cref="VpnCoordinator"/> and starts it, or a <see cref="VpnMember"/> and joins, on the registered
/// <see cref="IPacketDevice"/> (or a new TUN device); on shutdown stops it and disposes what it created.
/// </summary>
/// <remarks>A member whose coordinator cannot be reached fails the application's start with the join's error.</remarks>
public sealed class VpnService : IHostedService, IAsyncDisposable
{
    private readonly P2PHost _host;
    private readonly VpnServiceOptions _options;
    private readonly IPacketDevice? _registeredDevice;
    private readonly ILoggerFactory? _loggerFactory;
    private readonly IMeterFactory? _meterFactory;
    private readonly TimeProvider? _timeProvider;
    private IPacketDevice? _ownedDevice;

    /// <summary>Creates the service; nothing is opened until <see cref="StartAsync"/>.</summary>
    public VpnService(P2PHost host, IOptions<VpnServiceOptions> options, IPacketDevice? device = null,
        ILoggerFactory? loggerFactory = null, IMeterFactory? meterFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(options);
        _host = host;
        _options = options.Value;
        _registeredDevice = device;
        _loggerFactory = loggerFactory;
        _meterFactory = meterFactory;
        _timeProvider = timeProvider;
    }

    /// <summary>The running VPN endpoint (a <see cref="VpnCoordinator"/> or a <see cref="VpnMember"/>), once started.</summary>
    public VpnEndpoint? Endpoint { get; private set; }

    /// <inheritdoc/>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var device = _registeredDevice ?? (_ownedDevice = TunDevice.Create(_options.TunName));
        if (_options.Coordinator)
        {
            var coordinator = new VpnCoordinator(_host, device, _options.Vpn, _loggerFactory, _meterFactory, _timeProvider);
            Endpoint = coordinator;
            await coordinator.StartAsync(_options.Members.Select(p => new VpnMemberRequest(p)), cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var member = new VpnMember(_host, device, _options.Vpn, _loggerFactory, _meterFactory, _timeProvider);
            Endpoint = member;
            var requested = string.IsNullOrWhiteSpace(_options.RequestedAddress) ? null : IPAddress.Parse(_options.RequestedAddress);
            await member.JoinAsync(_options.CoordinatorAddress!, requested, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Endpoint is { } endpoint)
        {
            await endpoint.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Endpoint is { } endpoint)
        {
            await endpoint.DisposeAsync().ConfigureAwait(false);
            Endpoint = null;
        }
        if (_ownedDevice is { } device)
        {
            await device.DisposeAsync().ConfigureAwait(false);
            _ownedDevice = null;
        }
    }
}
