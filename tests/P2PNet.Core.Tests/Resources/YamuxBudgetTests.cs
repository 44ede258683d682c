using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Core.Tests.Muxing;
using P2PNet.Crypto;
using P2PNet.Muxing;
using P2PNet.Muxing.Yamux;
using P2PNet.Resources;
using P2PNet.Resources.Internal;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.Resources;

/// <summary>Yamux sessions with a connection budget: a stream's buffers and a window's growth are reserved before use.</summary>
public sealed class YamuxBudgetTests
{
    private const long StreamBuffers = 512 * 1024; // 256 KiB initial window + 256 KiB send buffer, the defaults
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static (ResourceManager Manager, ConnectionResources Resources) NewBudget(long connectionMemory)
    {
        var manager = new ResourceManager(new ResourceLimits { MaxMemoryPerConnection = connectionMemory }, NullLogger.Instance);
        ConnectionResources resources = manager.OpenOutbound(IPAddress.Loopback);
        using var key = PrivateKey.GenerateEd25519();
        resources.SetPeer(key.PublicKey.ToPeerId());
        resources.CompleteHandshake();
        return (manager, resources);
    }

    private static YamuxSession NewSession(TransportPair transport, bool client, ConnectionResources? resources) =>
        new(client ? transport.Dialer : transport.Listener, client, new YamuxOptions { KeepAliveInterval = TimeSpan.Zero }, NullLogger.Instance)
        {
            Resources = resources,
        };

    [Fact]
    public async Task OpenStream_BeyondTheConnectionsMemoryBudget_IsRefused_AndClosingAStreamGivesItsBuffersBack()
    {
        var (manager, resources) = NewBudget(2 * StreamBuffers);
        await using var transport = TestTransports.CreateInMemory();
        await using var client = NewSession(transport, client: true, resources);
        await using var server = NewSession(transport, client: false, null);
        client.Start();
        server.Start();

        var first = await client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        await using var second = await client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(2 * StreamBuffers, resources.Usage.Memory);
        var refused = await Assert.ThrowsAsync<ResourceLimitExceededException>(() => client.OpenStreamAsync().AsTask().WaitAsync(Timeout));
        Assert.Equal(ResourceKind.Memory, refused.Resource);
        Assert.Equal(ResourceScopeKind.Connection, refused.Scope);

        first.Abort();
        await WaitUntilAsync(() => resources.Usage.Memory == StreamBuffers);
        await using var third = await client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(2 * StreamBuffers, manager.Snapshot().System.Memory);
        await first.DisposeAsync();
    }

    [Fact]
    public async Task InboundStream_BeyondTheBudget_IsReset_WhileAcceptedOnesStillWork()
    {
        var (_, resources) = NewBudget(2 * StreamBuffers);
        await using var transport = TestTransports.CreateInMemory();
        await using var client = NewSession(transport, client: true, null);
        await using var server = NewSession(transport, client: false, resources);
        client.Start();
        server.Start();

        var opened = new List<MuxedStream>();
        for (int i = 0; i < 3; i++)
        {
            var stream = await client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
            await stream.WriteAsync(new byte[] { (byte)i }, completeWrites: false).AsTask().WaitAsync(Timeout);
            opened.Add(stream);
        }

        // The third was refused with RST: its writes side fails on the opener.
        await Assert.ThrowsAsync<StreamResetException>(() => opened[2].ReadsClosed.WaitAsync(Timeout));
        await using var accepted = await server.AcceptStreamAsync().AsTask().WaitAsync(Timeout);
        var read = await accepted.Input.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(0, read.Buffer.FirstSpan[0]);
        accepted.Input.AdvanceTo(read.Buffer.End);
        Assert.Equal(2 * StreamBuffers, resources.Usage.Memory);
        Assert.Equal(2, resources.Usage.InboundStreams);
        foreach (var stream in opened)
        {
            await stream.DisposeAsync();
        }
    }

    [Fact]
    public async Task WindowGrowth_BeyondTheBudget_IsRefused_AndTheWindowStaysAsItIs()
    {
        var (manager, resources) = NewBudget(StreamBuffers + 256 * 1024);
        await using var transport = TestTransports.CreateInMemory();
        await using var client = NewSession(transport, client: true, resources);
        await using var stream = await client.OpenStreamAsync().AsTask().WaitAsync(Timeout);

        Assert.True(client.TryReserveWindowGrowth(256 * 1024));
        Assert.False(client.TryReserveWindowGrowth(256 * 1024));
        Assert.Equal(256 * 1024, client.WindowGrowth); // the refused growth left the session's own count untouched
        Assert.Equal(StreamBuffers + 256 * 1024, resources.Usage.Memory);
        Assert.True(manager.Snapshot().Refused >= 1);
    }

    [Fact]
    public async Task ClosingTheSession_GivesBackEveryStreamsBuffers()
    {
        var (manager, resources) = NewBudget(64 * 1024 * 1024);
        await using var transport = TestTransports.CreateInMemory();
        var client = NewSession(transport, client: true, resources);
        await using var server = NewSession(transport, client: false, null);
        client.Start();
        server.Start();
        for (int i = 0; i < 10; i++)
        {
            await client.OpenStreamAsync().AsTask().WaitAsync(Timeout);
        }

        Assert.Equal(10, resources.Usage.OutboundStreams);
        await client.DisposeAsync().AsTask().WaitAsync(Timeout);
        Assert.True(resources.Usage.IsEmpty, resources.Usage.ToString());
        resources.Dispose();
        Assert.True(manager.Snapshot().System.IsEmpty);
        Assert.Equal(0, manager.Snapshot().TrackedPeers);
    }

    private static Task WaitUntilAsync(Func<bool> condition) =>
        Conditions.WaitUntilAsync(condition, Timeout, "the awaited condition did not hold");
}
