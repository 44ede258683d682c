using Microsoft.Extensions.Logging;
using P2PNet.Host;
using P2PNet.Multiformats;

namespace P2PNet.Testing;

/// <summary>
/// N P2PNet hosts on loopback in this process, for integration tests: <c>await using var hosts = await
/// TestHostGroup.StartAsync(3); await hosts.ConnectAllAsync();</c>.
/// </summary>
public sealed class TestHostGroup : IAsyncDisposable
{
    private TestHostGroup(IReadOnlyList<P2PHost> hosts) => Hosts = hosts;

    /// <summary>The hosts, each listening on 127.0.0.1 with a random port.</summary>
    public IReadOnlyList<P2PHost> Hosts { get; }

    /// <summary>Host <paramref name="index"/>.</summary>
    public P2PHost this[int index] => Hosts[index];

    /// <summary>Starts <paramref name="count"/> hosts. <paramref name="configure"/> adjusts each host's options (with its index).</summary>
    public static async Task<TestHostGroup> StartAsync(int count, Action<int, P2PHostOptions>? configure = null,
        ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        var hosts = new List<P2PHost>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                var options = new P2PHostOptions { AgentVersion = $"p2pnet-test/{i}" };
                options.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
                configure?.Invoke(i, options);
                var host = new P2PHost(options, loggerFactory);
                hosts.Add(host);
                await host.StartAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            foreach (var host in hosts)
            {
                await host.DisposeAsync().ConfigureAwait(false);
            }
            throw;
        }
        return new TestHostGroup(hosts);
    }

    /// <summary>Connects every pair (the lower index dials).</summary>
    public async Task ConnectAllAsync(CancellationToken cancellationToken = default)
    {
        for (int i = 0; i < Hosts.Count; i++)
        {
            for (int j = i + 1; j < Hosts.Count; j++)
            {
                await Hosts[i].DialAsync(Hosts[j].ListenAddresses[0], cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Connects host 0 to every other host.</summary>
    public async Task ConnectStarAsync(CancellationToken cancellationToken = default)
    {
        for (int j = 1; j < Hosts.Count; j++)
        {
            await Hosts[0].DialAsync(Hosts[j].ListenAddresses[0], cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(Hosts.Select(h => h.DisposeAsync().AsTask())).ConfigureAwait(false);
    }
}
