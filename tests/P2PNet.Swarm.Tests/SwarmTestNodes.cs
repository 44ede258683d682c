using System.Diagnostics;
using Microsoft.Extensions.Logging;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.Ping;
using P2PNet.Security.Pnet;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Swarm.Tests;

/// <summary>A host with its identity key, listening on 127.0.0.1.</summary>
internal sealed class TestNode : IAsyncDisposable
{
    public required P2PHost Host { get; init; }

    public required PrivateKey Identity { get; init; }

    public Multiaddr Address => Host.ListenAddresses[0];

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        Identity.Dispose();
    }
}

/// <summary>Nodes, timeouts and assertions shared by the swarm tests.</summary>
internal sealed class SwarmTestNodes(ITestOutputHelper output) : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>A refused dial must end well before this (handshake timeout 5 s).</summary>
    public static readonly TimeSpan FailFast = TimeSpan.FromSeconds(12);

    private readonly List<IAsyncDisposable> _owned = [];

    public ILoggerFactory LoggerFactory { get; } = XunitLoggerProvider.CreateFactory(output);

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("p2pnet-swarm-tests-").FullName;

    public async Task<TestNode> StartAsync(SwarmKey? key = null, PrivateKey? identity = null)
    {
        identity ??= PrivateKey.GenerateEd25519();
        var options = new P2PHostOptions { Identity = identity, PrivateNetworkKey = key, HandshakeTimeout = TimeSpan.FromSeconds(5) };
        options.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        var host = new P2PHost(options, LoggerFactory);
        await host.StartAsync().AsTask().WaitAsync(Timeout);
        var node = new TestNode { Host = host, Identity = identity };
        _owned.Add(node);
        return node;
    }

    public T Own<T>(T disposable) where T : IAsyncDisposable
    {
        _owned.Insert(0, disposable);
        return disposable;
    }

    public static async Task PingAsync(P2PConnection connection)
    {
        using var cts = new CancellationTokenSource(Timeout);
        int count = 0;
        await foreach (var _ in PingProtocol.PingAsync(connection, 1).WithCancellation(cts.Token))
        {
            count++;
        }
        Assert.Equal(1, count);
    }

    /// <summary>
    /// The dial (or the first stream on it, when the refusal lands just after the handshake) fails with an
    /// <see cref="IOException"/> (the handshake, the gater or the owner closing the connection), well before
    /// <see cref="FailFast"/>. A hang surfaces as <see cref="TimeoutException"/>, which is not a refusal and fails the test.
    /// </summary>
    /// <returns>The refusal, for callers that check its kind.</returns>
    public static async Task<IOException> AssertDialRefusedFastAsync(P2PHost dialer, Multiaddr target)
    {
        var watch = Stopwatch.StartNew();
        var refusal = await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            var connection = await dialer.DialAsync(target).AsTask().WaitAsync(Timeout);
            // An owner closes unauthorised peers right after the handshake: a stream on it fails.
            await PingAsync(connection);
        });
        Assert.True(watch.Elapsed < FailFast, $"the refused dial took {watch.Elapsed}");
        return refusal;
    }

    /// <summary>Completes with the first event of type <typeparamref name="T"/> raised by <paramref name="subscribe"/>'s source.</summary>
    public static Task<T> NextEventAsync<T>(Action<EventHandler<SwarmEvent>> subscribe, Func<T, bool>? predicate = null) where T : SwarmEvent
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        subscribe((_, e) =>
        {
            if (e is T match && (predicate?.Invoke(match) ?? true))
            {
                done.TrySetResult(match);
            }
        });
        return done.Task;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in _owned)
        {
            await owned.DisposeAsync().AsTask().WaitAsync(Timeout);
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
        LoggerFactory.Dispose();
    }
}

/// <summary>The system clock shifted by a fixed offset: a node whose clock is wrong.</summary>
internal sealed class ShiftedTimeProvider(TimeSpan offset) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + offset;
}

/// <summary>An owner and its members, built step by step.</summary>
internal sealed record TestSwarm(TestNode OwnerNode, SwarmOwner Owner, SwarmStore Store, IReadOnlyList<TestNode> MemberNodes, IReadOnlyList<SwarmMember> Members)
{
    public const string Id = "test-swarm";

    public IEnumerable<P2PHost> AllHosts => [OwnerNode.Host, .. MemberNodes.Select(n => n.Host)];

    public SwarmMembership Membership => new(Id, OwnerNode.Host.PeerId, OwnerNode.Host.ListenAddresses);

    /// <summary>Starts an owner and <paramref name="memberCount"/> authorised members; with <paramref name="join"/>,
    /// members fetch the key, everyone joins and (with <paramref name="mesh"/>) every pair of members connects.</summary>
    public static async Task<TestSwarm> StartAsync(SwarmTestNodes nodes, int memberCount, SwarmOptions? options = null, bool join = true, bool mesh = true,
        TimeProvider? ownerTime = null)
    {
        var ownerNode = await nodes.StartAsync();
        var memberNodes = new List<TestNode>();
        for (int i = 0; i < memberCount; i++)
        {
            memberNodes.Add(await nodes.StartAsync());
        }
        var store = SwarmStore.Open(Path.Combine(nodes.Directory, $"owner-{Guid.NewGuid():N}.db"));
        nodes.Own(new DisposeAction(store.Dispose));
        var owner = nodes.Own(SwarmOwner.Create(ownerNode.Host, ownerNode.Identity, store, Id, memberNodes.Select(n => n.Host.PeerId),
            options: options, loggerFactory: nodes.LoggerFactory, timeProvider: ownerTime));
        var membership = new SwarmMembership(Id, ownerNode.Host.PeerId, ownerNode.Host.ListenAddresses);
        var members = memberNodes.Select(n => nodes.Own(new SwarmMember(n.Host, n.Identity, membership, options: options, loggerFactory: nodes.LoggerFactory))).ToList();
        var swarm = new TestSwarm(ownerNode, owner, store, memberNodes, members);
        if (join)
        {
            await swarm.JoinAllAsync(mesh);
        }
        return swarm;
    }

    public async Task JoinAllAsync(bool mesh)
    {
        foreach (var member in Members)
        {
            await member.RequestKeyAsync().WaitAsync(SwarmTestNodes.Timeout);
        }
        await Owner.JoinAsync().WaitAsync(SwarmTestNodes.Timeout);
        foreach (var member in Members)
        {
            Assert.Equal(1, await member.JoinAsync().WaitAsync(SwarmTestNodes.Timeout));
        }
        if (mesh)
        {
            for (int i = 0; i < MemberNodes.Count; i++)
            {
                for (int j = i + 1; j < MemberNodes.Count; j++)
                {
                    await MemberNodes[i].Host.DialAsync(MemberNodes[j].Address).AsTask().WaitAsync(SwarmTestNodes.Timeout);
                }
            }
        }
    }

    /// <summary>Every pair of hosts has a connection protected by a swarm key, and a ping crosses it.</summary>
    public Task AssertEveryPairConnectedAndPingsAsync() => AssertEveryPairConnectedAndPingsAsync2(exclude: null);

    public async Task AssertEveryPairConnectedAndPingsAsync2(P2PHost? exclude)
    {
        var hosts = AllHosts.Where(h => h != exclude).ToArray();
        for (int i = 0; i < hosts.Length; i++)
        {
            for (int j = 0; j < hosts.Length; j++)
            {
                if (i == j)
                {
                    continue;
                }
                // A dial completes on the dialer's side before the listener has registered its side: wait for both.
                var (from, to) = (hosts[i], hosts[j]);
                await Conditions.WaitUntilAsync(() => from.GetConnections(to.PeerId).Count > 0, SwarmTestNodes.Timeout,
                    $"host {i} is not connected to host {j}");
                var connections = hosts[i].GetConnections(hosts[j].PeerId);
                Assert.True(connections.Count > 0, $"host {i} is not connected to host {j}");
                Assert.All(connections, c => Assert.NotNull(c.PrivateNetworkKey));
                if (i < j)
                {
                    await SwarmTestNodes.PingAsync(connections[0]);
                }
            }
        }
    }
}

internal sealed class DisposeAction(Action dispose) : IAsyncDisposable
{
    public ValueTask DisposeAsync()
    {
        dispose();
        return ValueTask.CompletedTask;
    }
}
