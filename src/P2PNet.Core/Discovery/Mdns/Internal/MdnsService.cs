using Microsoft.Extensions.Logging;
using P2PNet.Host;
using P2PNet.Host.Internal;

namespace P2PNet.Discovery.Mdns.Internal;

/// <summary>
/// mDNS as a host service: at start opens the sockets (the service name follows the private network key in force
/// then) and announces again whenever our addresses change; at stop ends the loops and closes the sockets.
/// </summary>
internal sealed class MdnsService(P2PHost host, MdnsOptions options, ILogger<MdnsDiscovery> logger) : IHostService
{
    private readonly TaskTracker _announcements = new();
    private MdnsDiscovery? _mdns;
    private IDisposable? _announcer;

    /// <inheritdoc />
    public string Name => "mDNS";

    /// <summary>The running discovery, once started.</summary>
    public MdnsDiscovery? Discovery => _mdns;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var mdns = new MdnsDiscovery(host, options, logger);
        _mdns = mdns;
        mdns.Start();
        // Announce at once when our addresses change, instead of waiting for the next query.
        _announcer = host.Events.Subscribe<LocalAddressesUpdated>(_ => _announcements.Track(mdns.AnnounceAsync()));
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _announcer?.Dispose();
        await _announcements.WhenAllAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        if (_mdns is not null)
        {
            await _mdns.DisposeAsync().ConfigureAwait(false);
        }
    }
}
