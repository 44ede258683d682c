using System.Security.Cryptography;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using P2PNet.Host;
using P2PNet.Host.Internal;
using P2PNet.Multiformats;
using P2PNet.Peers;

namespace P2PNet.Discovery.Internal;

/// <summary>
/// Keeps the bootstrap peers connected: one loop per peer dials, and after a failure or a disconnection waits a
/// bounded, jittered, exponentially growing backoff before dialing again. Owned by the host.
/// </summary>
internal sealed partial class BootstrapDialer : IHostService
{
    private readonly P2PHost _host;
    private readonly BootstrapOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping;
    private readonly Dictionary<PeerId, Channel<bool>> _disconnected = [];
    private readonly Dictionary<PeerId, List<Multiaddr>> _addresses = [];
    private readonly List<Task> _loops = [];
    private IDisposable? _subscription;

    public BootstrapDialer(P2PHost host, IEnumerable<Multiaddr> peers, BootstrapOptions options, ILogger logger)
    {
        _host = host;
        _options = options;
        _logger = logger;
        // No dial once the host begins to stop (a disconnection while it closes must not be redialed).
        _stopping = CancellationTokenSource.CreateLinkedTokenSource(host.StoppingToken);
        foreach (var address in peers)
        {
            if (address.GetPeerId() is not { } peer)
            {
                throw new ArgumentException($"The bootstrap address {address} has no /p2p/<peer id>.", nameof(peers));
            }
            if (!_disconnected.ContainsKey(peer))
            {
                _disconnected[peer] = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
                _addresses[peer] = [];
            }
            _addresses[peer].Add(address);
            host.PeerStore.AddAddresses(peer, [address]);
        }
    }

    /// <inheritdoc />
    public string Name => "bootstrap";

    /// <summary>Starts one keep-connected loop per bootstrap peer.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _subscription = _host.Events.Subscribe<PeerConnectednessChanged>(e =>
        {
            if (e.Connectedness == Connectedness.NotConnected && _disconnected.TryGetValue(e.Peer, out var signal))
            {
                signal.Writer.TryWrite(true);
            }
        });
        foreach (var (peer, signal) in _disconnected)
        {
            _loops.Add(KeepConnectedAsync(peer, signal.Reader));
        }
        return Task.CompletedTask;
    }

    private async Task KeepConnectedAsync(PeerId peer, ChannelReader<bool> disconnected)
    {
        await Task.Yield();
        var token = _stopping.Token;
        int failures = 0;
        try
        {
            while (!token.IsCancellationRequested)
            {
                if (_host.GetConnections(peer).Count == 0)
                {
                    string? error = await TryDialAsync(peer, token).ConfigureAwait(false);
                    if (error is not null)
                    {
                        var wait = _options.BackoffFor(failures++, RandomNumberGenerator.GetInt32(1_000_000) / 1e6);
                        DialFailed(_logger, peer, wait.TotalSeconds, error);
                        await Task.Delay(wait, _host.TimeProvider, token).ConfigureAwait(false);
                        continue;
                    }
                    failures = 0;
                    Connected(_logger, peer);
                }
                while (disconnected.TryRead(out _))
                {
                    // stale signals from before this connection
                }
                if (_host.GetConnections(peer).Count > 0)
                {
                    await disconnected.ReadAsync(token).ConfigureAwait(false);
                    // Lost: wait a little (the peer may be restarting), then dial again.
                    await Task.Delay(_options.BackoffFor(0, RandomNumberGenerator.GetInt32(1_000_000) / 1e6), _host.TimeProvider, token).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Dials the configured addresses in turn, then any other known one; null on success, else why not.</summary>
    private async Task<string?> TryDialAsync(PeerId peer, CancellationToken token)
    {
        var errors = new List<string>();
        foreach (var address in _addresses[peer])
        {
            try
            {
                await _host.DialAsync(address, token).ConfigureAwait(false);
                return null;
            }
            catch (Exception e) when (e is IOException or TimeoutException or NotSupportedException)
            {
                errors.Add(e.Message);
            }
        }
        return string.Join("; ", errors);
    }

    /// <summary>Ends the loops and waits for them.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
        await _stopping.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_loops).ConfigureAwait(false);
        _stopping.Dispose();
    }

    [LoggerMessage(1551, LogLevel.Information, "Connected to bootstrap peer {Peer}")]
    private static partial void Connected(ILogger logger, PeerId peer);

    [LoggerMessage(1552, LogLevel.Information, "Dialing bootstrap peer {Peer} failed; next try in {Seconds:0.0} s: {Reason}")]
    private static partial void DialFailed(ILogger logger, PeerId peer, double seconds, string reason);
}
