using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Swarm.Hosting;

namespace P2PNet.Swarm.Tests.Hosting;

/// <summary><c>services.AddPrivateSwarm(…)</c>: an owner and a member as two real Generic Hosts.</summary>
public sealed class PrivateSwarmHostingTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly string _directory = Directory.CreateTempSubdirectory("p2pnet-swarm-hosting-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static IHost Build(PrivateKey identity, Action<PrivateSwarmServiceOptions> swarm)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddP2PNet(o =>
        {
            o.Identity = identity;
            o.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        });
        builder.Services.AddPrivateSwarm(swarm);
        builder.Services.AddHealthChecks().AddPrivateSwarm();
        return builder.Build();
    }

    private static async Task<HealthReportEntry> CheckAsync(IHost app) =>
        (await app.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync().WaitAsync(Timeout)).Entries["p2pnet-swarm"];

    [Fact]
    public async Task OwnerAndMember_StartedAsHostedServices_ShareTheKeyAndJoinTheSwarm()
    {
        using var ownerKey = PrivateKey.GenerateEd25519();
        using var memberKey = PrivateKey.GenerateEd25519();
        using var owner = Build(ownerKey, o =>
        {
            o.Role = SwarmRole.Owner;
            o.StorePath = Path.Combine(_directory, "owner.db");
            o.SwarmId = "hosted-swarm";
            o.AuthorizedPeers.Add(memberKey.PublicKey.ToPeerId());
            o.JoinOnStart = false; // stays on the public network to hand out the key (the CLI's `swarm serve --public`)
        });
        Assert.Equal(HealthStatus.Unhealthy, (await CheckAsync(owner)).Status);
        await owner.StartAsync().WaitAsync(Timeout);
        try
        {
            var ownerService = owner.Services.GetRequiredService<PrivateSwarmService>();
            Assert.NotNull(ownerService.Owner);
            Assert.False(ownerService.IsJoined);
            Assert.Equal(HealthStatus.Degraded, (await CheckAsync(owner)).Status);
            var ownerHost = owner.Services.GetRequiredService<P2PHost>();

            using var member = Build(memberKey, o =>
            {
                o.Role = SwarmRole.Member;
                o.StorePath = Path.Combine(_directory, "member.db");
                o.SwarmId = "hosted-swarm";
                o.Owner = ownerHost.PeerId;
                foreach (var address in ownerHost.ListenAddresses)
                {
                    o.OwnerAddresses.Add(address);
                }
            });
            await member.StartAsync().WaitAsync(Timeout);
            try
            {
                var memberService = member.Services.GetRequiredService<PrivateSwarmService>();
                Assert.True(memberService.IsJoined);
                Assert.Equal(ownerService.Owner!.CurrentKey, memberService.Member!.Key);
                var health = await CheckAsync(member);
                Assert.Equal(HealthStatus.Healthy, health.Status);
                Assert.Equal(ownerService.Owner.CurrentKey.FingerprintHex, health.Data["key_fingerprint"]);

                await ownerService.Owner.JoinAsync().WaitAsync(Timeout);
                Assert.Equal(HealthStatus.Healthy, (await CheckAsync(owner)).Status);
            }
            finally
            {
                await member.StopAsync().WaitAsync(Timeout);
            }
        }
        finally
        {
            await owner.StopAsync().WaitAsync(Timeout);
        }
    }

    [Fact]
    public async Task Start_MemberWithoutOwner_FailsNamingTheKey()
    {
        using var key = PrivateKey.GenerateEd25519();
        using var app = Build(key, o => o.StorePath = Path.Combine(_directory, "member.db"));
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync().WaitAsync(Timeout));
        Assert.Contains("PrivateSwarmServiceOptions:Owner", e.Message, StringComparison.Ordinal);
        Assert.Contains("PrivateSwarmServiceOptions:OwnerAddresses", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_FromConfigurationWithoutAStore_FailsNamingTheConfigurationKey()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["P2PNet:Swarm:Role"] = "Owner",
            ["P2PNet:Swarm:Limits:MaxMessageSize"] = "10",
        });
        builder.Services.AddP2PNet(builder.Configuration.GetSection("P2PNet"));
        builder.Services.AddPrivateSwarm(builder.Configuration.GetSection("P2PNet:Swarm"));
        using var app = builder.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync().WaitAsync(Timeout));
        Assert.Contains("P2PNet:Swarm:StorePath", e.Message, StringComparison.Ordinal);
        Assert.Contains("P2PNet:Swarm:Limits:MaxMessageSize", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bind_FromConfiguration_ReadsPeerIdsAndMultiaddrs()
    {
        using var ownerKey = PrivateKey.GenerateEd25519();
        using var memberKey = PrivateKey.GenerateEd25519();
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["P2PNet:Swarm:Role"] = "Member",
            ["P2PNet:Swarm:StorePath"] = Path.Combine(_directory, "member.db"),
            ["P2PNet:Swarm:SwarmId"] = "configured",
            ["P2PNet:Swarm:Owner"] = ownerKey.PublicKey.ToPeerId().ToString(),
            ["P2PNet:Swarm:OwnerAddresses:0"] = "/ip4/192.0.2.1/tcp/4001",
            ["P2PNet:Swarm:AuthorizedPeers:0"] = memberKey.PublicKey.ToPeerId().ToCidString(),
            ["P2PNet:Swarm:JoinOnStart"] = "false",
            ["P2PNet:Swarm:Limits:ExchangeTimeout"] = "00:00:05",
        });
        builder.Services.AddPrivateSwarm(builder.Configuration.GetSection("P2PNet:Swarm"));
        using var app = builder.Build();
        var options = app.Services.GetRequiredService<IOptions<PrivateSwarmServiceOptions>>().Value;
        Assert.Equal(SwarmRole.Member, options.Role);
        Assert.Equal("configured", options.SwarmId);
        Assert.Equal(ownerKey.PublicKey.ToPeerId(), options.Owner);
        Assert.Equal([Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001")], options.OwnerAddresses);
        Assert.Equal([memberKey.PublicKey.ToPeerId()], options.AuthorizedPeers);
        Assert.False(options.JoinOnStart);
        Assert.Equal(TimeSpan.FromSeconds(5), options.Limits.ExchangeTimeout);
    }

    [Fact]
    public async Task Start_FromConfigurationWithAMalformedPeerIdInAList_FailsNamingTheKey()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["P2PNet:Swarm:Role"] = "Owner",
            ["P2PNet:Swarm:StorePath"] = Path.Combine(_directory, "owner.db"),
            ["P2PNet:Swarm:AuthorizedPeers:0"] = "12D3KooWnot-a-peer",
        });
        builder.Services.AddPrivateSwarm(builder.Configuration.GetSection("P2PNet:Swarm"));
        using var app = builder.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync().WaitAsync(Timeout));
        Assert.Contains("P2PNet:Swarm:AuthorizedPeers:0", e.Message, StringComparison.Ordinal);
    }
}
