using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Vpn.Hosting;

namespace P2PNet.Vpn.Tests.Hosting;

/// <summary><c>services.AddVpn(…)</c>: a coordinator and a member as two real Generic Hosts on user-space devices.</summary>
public sealed class VpnHostingTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static IHost Build(PrivateKey identity, Action<VpnServiceOptions> vpn)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddP2PNet(o =>
        {
            o.Identity = identity;
            o.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        });
        builder.Services.AddSingleton<IPacketDevice>(new UserSpacePacketDevice());
        builder.Services.AddVpn(vpn);
        builder.Services.AddHealthChecks().AddVpn();
        return builder.Build();
    }

    private static async Task<HealthReportEntry> CheckAsync(IHost app) =>
        (await app.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync().WaitAsync(Timeout)).Entries["p2pnet-vpn"];

    [Fact]
    public async Task CoordinatorAndMember_StartedAsHostedServices_AreUpAndCarryAPacket()
    {
        using var coordinatorKey = PrivateKey.GenerateEd25519();
        using var memberKey = PrivateKey.GenerateEd25519();
        using var coordinator = Build(coordinatorKey, o =>
        {
            o.Coordinator = true;
            o.Members.Add(memberKey.PublicKey.ToPeerId());
        });
        Assert.Equal(HealthStatus.Unhealthy, (await CheckAsync(coordinator)).Status);
        await coordinator.StartAsync().WaitAsync(Timeout);
        try
        {
            Assert.Equal(HealthStatus.Healthy, (await CheckAsync(coordinator)).Status);
            var coordinatorHost = coordinator.Services.GetRequiredService<P2PHost>();
            using var member = Build(memberKey, o => o.CoordinatorAddress = coordinatorHost.ListenAddresses[0]);
            await member.StartAsync().WaitAsync(Timeout);
            try
            {
                var memberVpn = member.Services.GetRequiredService<VpnService>().Endpoint!;
                var coordinatorVpn = coordinator.Services.GetRequiredService<VpnService>().Endpoint!;
                Assert.NotNull(memberVpn.Address);
                var health = await CheckAsync(member);
                Assert.Equal(HealthStatus.Healthy, health.Status);
                Assert.Equal(memberVpn.Address.ToString(), health.Data["address"]);
                // The roles are the split types, and the member's status names the coordinator's VPN.
                Assert.IsType<VpnCoordinator>(coordinatorVpn);
                Assert.IsType<VpnMember>(memberVpn);
                Assert.Equal(coordinatorVpn.VpnId, health.Data["vpn_id"]);
                Assert.Equal(false, health.Data["coordinator"]);

                var memberDevice = (UserSpacePacketDevice)member.Services.GetRequiredService<IPacketDevice>();
                var coordinatorDevice = (UserSpacePacketDevice)coordinator.Services.GetRequiredService<IPacketDevice>();
                using var cts = new CancellationTokenSource(Timeout);
                await memberDevice.SendAsync(Packets.IPv4(memberVpn.Address, coordinatorVpn.Address!, new byte[64]), cts.Token);
                var received = await coordinatorDevice.ReceiveAsync(cts.Token);
                Assert.Equal(84, received.Length);
            }
            finally
            {
                await member.StopAsync().WaitAsync(Timeout);
            }
            Assert.Equal(HealthStatus.Healthy, (await CheckAsync(coordinator)).Status);
        }
        finally
        {
            await coordinator.StopAsync().WaitAsync(Timeout);
        }
    }

    [Fact]
    public async Task Start_MemberWithoutCoordinator_FailsNamingTheKey()
    {
        using var key = PrivateKey.GenerateEd25519();
        using var app = Build(key, o => o.Vpn.Mtu = 100);
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync().WaitAsync(Timeout));
        Assert.Contains("VpnServiceOptions:CoordinatorAddress", e.Message, StringComparison.Ordinal);
        Assert.Contains("VpnServiceOptions:Vpn:Mtu", e.Message, StringComparison.Ordinal);
    }
}
