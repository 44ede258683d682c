using Microsoft.Extensions.Hosting;
using P2PNet.Host;
using P2PNet.Protocols.Dht;

namespace P2PNet.Hosting;

/// <summary>Starts the registered <see cref="KadDht"/> with the application, bootstraps it (a lookup of its own id)
/// once the first peer serving the DHT has been identified, and disposes it on shutdown. Registered after the host's
/// service, it stops before the host does.</summary>
internal sealed class KadDhtService(KadDht dht, P2PHost host) : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private IDisposable? _subscription;
    private Task _bootstrap = Task.CompletedTask;
    private int _bootstrapped;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        dht.Start();
        _subscription = host.Events.Subscribe<PeerIdentificationCompleted>(_ => BootstrapOnce());
        // The host started first and dials its bootstrap peers on its own: one may have been identified before the
        // subscription above, and there may be no other identification to come. Start filled the table from it.
        BootstrapOnce();
        return Task.CompletedTask;
    }

    private void BootstrapOnce()
    {
        if (dht.RoutingTableSize > 0 && Interlocked.Exchange(ref _bootstrapped, 1) == 0)
        {
            _bootstrap = BootstrapAsync();
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _bootstrap.WaitAsync(cancellationToken).ConfigureAwait(false);
        await dht.DisposeAsync().ConfigureAwait(false);
    }

    public void Dispose()
    {
        _subscription?.Dispose();
        _stopping.Dispose();
    }

    private async Task BootstrapAsync()
    {
        await Task.Yield(); // off the event's thread
        try
        {
            await dht.BootstrapAsync(_stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        catch (ObjectDisposedException)
        {
            // the DHT went away with the application
        }
    }
}
