using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Security.Pnet;

namespace P2PNet.Core.Tests.DependencyInjection;

/// <summary><c>services.AddP2PNet(configuration.GetSection("P2PNet"))</c>: binding, key files, start-up validation.</summary>
public sealed class P2PNetConfigurationTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly string _directory = Directory.CreateTempSubdirectory("p2pnet-config-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static HostApplicationBuilder Builder(Dictionary<string, string?> settings)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings.ToDictionary(kv => "P2PNet:" + kv.Key, kv => kv.Value));
        builder.Services.AddP2PNet(builder.Configuration.GetSection("P2PNet"));
        return builder;
    }

    [Fact]
    public void Bind_FromConfiguration_SetsEveryKey()
    {
        var swarmKey = SwarmKey.Generate();
        string swarmKeyFile = Path.Combine(_directory, "swarm.key");
        swarmKey.WriteFile(swarmKeyFile);
        string identityFile = Path.Combine(_directory, "keys", "identity.key");
        using var bootstrapKey = PrivateKey.GenerateEd25519();
        string bootstrap = $"/ip4/192.0.2.1/tcp/4001/p2p/{bootstrapKey.PublicKey.ToPeerId()}";

        using var app = Builder(new()
        {
            ["IdentityKeyFile"] = identityFile,
            ["ListenAddresses:0"] = "/ip4/127.0.0.1/tcp/0",
            ["ListenAddresses:1"] = "/ip4/127.0.0.1/tcp/0/ws",
            ["PrivateNetworkKeyFile"] = swarmKeyFile,
            ["BootstrapPeers:0"] = bootstrap,
            ["Mdns:Enabled"] = "true",
            ["AgentVersion"] = "config-test/1",
            ["ProtocolVersion"] = "ipfs/0.1.0",
            ["HandshakeTimeout"] = "00:00:07",
            ["NegotiationTimeout"] = "00:00:06",
            ["DialTimeout"] = "00:00:08",
            ["MaxConnections"] = "77",
            ["MaxConnectionsPerPeer"] = "3",
            ["MaxPendingInboundConnections"] = "9",
            ["IdleTimeout"] = "00:02:00",
            ["ShutdownTimeout"] = "00:00:02",
            ["EnablePerf"] = "true",
            ["MaxIdentifyMessageSize"] = "32768",
            ["Yamux:MaxConcurrentStreams"] = "100",
            ["Tcp:Backlog"] = "64",
            ["Bootstrap:MaxBackoff"] = "00:00:30",
            ["PeerStore:FlushInterval"] = "00:00:03",
        }).Build();

        var options = app.Services.GetRequiredService<IOptions<P2PHostOptions>>().Value;
        Assert.Equal([Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"), Multiaddr.Parse("/ip4/127.0.0.1/tcp/0/ws")], options.ListenAddresses);
        Assert.Equal([Multiaddr.Parse(bootstrap)], options.BootstrapPeers);
        Assert.Equal(swarmKey, options.PrivateNetworkKey);
        Assert.NotNull(options.Identity);
        Assert.True(File.Exists(identityFile));
        Assert.Equal(options.Identity.PublicKey.ToPeerId(), PrivateKey.ReadFile(identityFile).PublicKey.ToPeerId());
        Assert.True(options.Mdns.Enabled);
        Assert.Equal("config-test/1", options.AgentVersion);
        Assert.Equal(TimeSpan.FromSeconds(7), options.HandshakeTimeout);
        Assert.Equal(TimeSpan.FromSeconds(6), options.NegotiationTimeout);
        Assert.Equal(TimeSpan.FromSeconds(8), options.DialTimeout);
        Assert.Equal(77, options.MaxConnections);
        Assert.Equal(3, options.MaxConnectionsPerPeer);
        Assert.Equal(9, options.MaxPendingInboundConnections);
        Assert.Equal(TimeSpan.FromMinutes(2), options.IdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(2), options.ShutdownTimeout);
        Assert.True(options.EnablePerf);
        Assert.Equal(32768, options.MaxIdentifyMessageSize);
        Assert.Equal(100, options.Yamux.MaxConcurrentStreams);
        Assert.Equal(64, options.Tcp.Backlog);
        Assert.Equal(TimeSpan.FromSeconds(30), options.Bootstrap.MaxBackoff);
        Assert.Equal(TimeSpan.FromSeconds(3), options.PeerStore.FlushInterval);

        var host = app.Services.GetRequiredService<P2PHost>();
        Assert.Equal(options.Identity.PublicKey.ToPeerId(), host.PeerId);
        Assert.Equal(swarmKey, host.PrivateNetworkKeys.Key);
    }

    [Fact]
    public void IdentityKeyFile_WhenMissing_IsCreatedOwnerOnlyAndReusedByTheNextStart()
    {
        string identityFile = Path.Combine(_directory, "identity.key");
        PeerIdOf(identityFile, out var first);
        Assert.True(File.Exists(identityFile));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(identityFile));
        }
        PeerIdOf(identityFile, out var second);
        Assert.Equal(first, second);

        void PeerIdOf(string file, out string peerId)
        {
            using var app = Builder(new() { ["IdentityKeyFile"] = file }).Build();
            peerId = app.Services.GetRequiredService<P2PHost>().PeerId.ToString();
        }
    }

    [Fact]
    public async Task HostedService_AfterStart_HostListensOnTheConfiguredAddresses()
    {
        using var app = Builder(new() { ["ListenAddresses:0"] = "/ip4/127.0.0.1/tcp/0" }).Build();
        var host = app.Services.GetRequiredService<P2PHost>();
        Assert.Empty(host.ListenAddresses);

        await app.StartAsync().WaitAsync(Timeout);
        try
        {
            var bound = Assert.Single(host.ListenAddresses);
            Assert.StartsWith("/ip4/127.0.0.1/tcp/", bound.ToString(), StringComparison.Ordinal);
            Assert.DoesNotContain("/tcp/0", bound.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            await app.StopAsync().WaitAsync(Timeout);
        }
    }

    [Theory]
    [InlineData("MaxConnections", "0", "P2PNet:MaxConnections")]
    [InlineData("DialTimeout", "00:00:00", "P2PNet:DialTimeout")]
    [InlineData("Yamux:MaxWindowSize", "1024", "P2PNet:Yamux:MaxWindowSize")]
    [InlineData("Mdns:Port", "0", "P2PNet:Mdns:Port")]
    [InlineData("Bootstrap:Jitter", "2", "P2PNet:Bootstrap:Jitter")]
    [InlineData("BootstrapPeers:0", "/ip4/192.0.2.1/tcp/4001", "P2PNet:BootstrapPeers:0")]
    [InlineData("PrivateNetworkKeyFile", "/nonexistent/p2pnet/swarm.key", "P2PNet:PrivateNetworkKeyFile")]
    public async Task Start_WithABadSetting_FailsNamingTheKey(string key, string value, string expectedKey)
    {
        using var app = Builder(new() { [key] = value }).Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync().WaitAsync(Timeout));
        Assert.Contains(expectedKey, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_WithAMalformedSwarmKeyFile_FailsNamingTheKey()
    {
        string file = Path.Combine(_directory, "bad.key");
        await File.WriteAllTextAsync(file, "/key/swarm/psk/1.0.0/\n/base16/\nnot-hex\n");
        using var app = Builder(new() { ["PrivateNetworkKeyFile"] = file }).Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync().WaitAsync(Timeout));
        Assert.Contains("P2PNet:PrivateNetworkKeyFile", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ListenAddresses:0", "/ip4/not-an-ip/tcp/1")]
    [InlineData("BootstrapPeers:0", "/ip4/192.0.2.1/tcp/4001/p2p/not-a-peer")]
    public async Task Start_WithAMalformedMultiaddr_FailsNamingTheKey(string key, string value)
    {
        // The binder drops a list element it cannot convert; the validator must still refuse it.
        using var app = Builder(new() { [key] = value }).Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync().WaitAsync(Timeout));
        Assert.Contains("P2PNet:" + key, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddP2PNet_WithAnAction_FailsNamingTheOptionsProperty()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddP2PNet(o => o.MaxConnectionsPerPeer = 0);
        using var app = builder.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync().WaitAsync(Timeout));
        Assert.Contains("P2PHostOptions:MaxConnectionsPerPeer", e.Message, StringComparison.Ordinal);
    }
}
