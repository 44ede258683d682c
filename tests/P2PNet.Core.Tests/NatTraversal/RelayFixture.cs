using Microsoft.Extensions.Logging;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Echo;
using P2PNet.Protocols.Relay;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.NatTraversal;

/// <summary>A relay, and hosts around it, on loopback TCP: one test's world, disposed in reverse order.</summary>
internal sealed class RelayFixture : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly List<IAsyncDisposable> _owned = [];
    private readonly ILoggerFactory _logs;
    private readonly TimeProvider? _time;

    private RelayFixture(ITestOutputHelper output, TimeProvider? time)
    {
        _logs = XunitLoggerProvider.CreateFactory(output, LogLevel.Debug);
        _time = time;
    }

    public P2PHost RelayHost { get; private set; } = null!;

    public RelayService Relay { get; private set; } = null!;

    /// <summary>The relay's address ending in /p2p/&lt;relay id&gt;.</summary>
    public Multiaddr RelayAddress => RelayHost.ListenAddresses[0];

    public static async Task<RelayFixture> StartAsync(ITestOutputHelper output, RelayServiceOptions? options = null, TimeProvider? time = null)
    {
        var fixture = new RelayFixture(output, time);
        fixture.RelayHost = await fixture.NewHostAsync();
        fixture.Relay = new RelayService(fixture.RelayHost, options, fixture._logs.CreateLogger<RelayService>());
        fixture._owned.Add(fixture.Relay);
        fixture.Relay.Start();
        return fixture;
    }

    /// <summary>A started host listening on loopback, serving echo.</summary>
    public async Task<P2PHost> NewHostAsync(Action<P2PHostOptions>? configure = null)
    {
        var options = new P2PHostOptions { ListenAddresses = { Multiaddr.Parse("/ip4/127.0.0.1/tcp/0") } };
        if (_time is not null)
        {
            // Manual time jumps minutes at once: keep-alive and idle timers would see a silent peer.
            options.Yamux.KeepAliveInterval = TimeSpan.Zero;
            options.IdleTimeout = TimeSpan.Zero;
        }
        configure?.Invoke(options);
        var host = new P2PHost(options, _logs, timeProvider: _time);
        _owned.Add(host);
        host.SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        await host.StartAsync().AsTask().WaitAsync(Timeout);
        return host;
    }

    /// <summary>A started host with a relay client that holds a reservation on the relay.</summary>
    public async Task<(P2PHost Host, RelayClient Client, RelayReservation Reservation)> NewReservedHostAsync(
        RelayClientOptions? options = null, Action<P2PHostOptions>? configure = null)
    {
        var host = await NewHostAsync(configure);
        var client = new RelayClient(host, options, _logs.CreateLogger<RelayClient>());
        _owned.Add(client); // disposed before its host (reverse order)
        var reservation = await client.ReserveAsync(RelayAddress).WaitAsync(Timeout);
        return (host, client, reservation);
    }

    public async ValueTask DisposeAsync()
    {
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync().AsTask().WaitAsync(Timeout);
        }
        _logs.Dispose();
    }
}
