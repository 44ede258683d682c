using System.Diagnostics.Metrics;
using P2PNet.Testing;

namespace P2PNet.Vpn.Tests;

public class VpnResilienceTests
{
    [Fact]
    public async Task DataStream_AfterTheConnectionDrops_IsReestablished()
    {
        await using var cluster = await VpnCluster.CreateAsync(3, configure: o => o.RedialInitialDelay = TimeSpan.FromMilliseconds(20));
        await cluster.StartAllAsync();
        using var cts = new CancellationTokenSource(VpnCluster.Timeout);
        var a1 = cluster.Vpns[1].Address!;
        var a2 = cluster.Vpns[2].Address!;
        await cluster.Devices[1].SendAsync(Packets.IPv4(a1, a2, [1]), cts.Token);
        Assert.Equal(1, (await cluster.Devices[2].ReceiveAsync(cts.Token))[20]);

        await cluster.Hosts[1].DisconnectAsync(cluster.Hosts[2].PeerId);

        // Keep sending until one gets through the redialed stream (packets sent while it is down may be lost, as on a real link).
        byte[]? received = null;
        int next = 2;
        await Conditions.WaitUntilAsync(
            async ct =>
            {
                await cluster.Devices[1].SendAsync(Packets.IPv4(a1, a2, [(byte)next++]), ct);
                return cluster.Devices[2].TryReceive(out received);
            },
            VpnCluster.Timeout,
            "no packet got through the redialed stream",
            cts.Token);
        Assert.True(cluster.Vpns[1].GetStatistics().Peers[cluster.Hosts[2].PeerId.ToString()].Connected);
    }

    [Fact]
    public async Task Metrics_CountPacketsAndBytesByDirectionWithoutAPeerTag_AndDropsByReason()
    {
        using var meterFactory = new TestMeterFactory();
        var measurements = new List<(string Instrument, long Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (meterFactory.Meters.Contains(instrument.Meter))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            lock (measurements)
            {
                measurements.Add((instrument.Name, value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value)));
            }
        });
        listener.Start();

        await using var cluster = await VpnCluster.CreateAsync(2);
        await using var metered = new VpnMember(cluster.Hosts[1], cluster.Devices[1], new VpnOptions(), meterFactory: meterFactory);
        using var cts = new CancellationTokenSource(VpnCluster.Timeout);
        await cluster.Coordinator.StartAsync([new VpnMemberRequest(cluster.Hosts[1].PeerId)], cts.Token);
        await metered.JoinAsync(cluster.CoordinatorAddress, null, cts.Token);
        await cluster.Devices[1].SendAsync(Packets.IPv4(metered.Address!, cluster.Vpns[0].Address!, new byte[100]), cts.Token);
        await cluster.Devices[0].ReceiveAsync(cts.Token);
        await cluster.Devices[1].SendAsync(Packets.IPv4(metered.Address!, System.Net.IPAddress.Parse("10.50.0.99"), [1]), cts.Token);
        await VpnCluster.WaitUntilAsync(() =>
        {
            lock (measurements)
            {
                return measurements.Any(m => m.Instrument == "p2pnet.vpn.bytes.relayed" && m.Value == 120 && !m.Tags.ContainsKey("peer") && Equals(m.Tags["direction"], "sent"))
                    && measurements.Any(m => m.Instrument == "p2pnet.vpn.packets.dropped" && Equals(m.Tags["reason"], "unroutable"));
            }
        });
    }

    private sealed class TestMeterFactory : IMeterFactory
    {
        public List<Meter> Meters { get; } = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options);
            lock (Meters)
            {
                Meters.Add(meter);
            }
            return meter;
        }

        public void Dispose()
        {
            foreach (var meter in Meters)
            {
                meter.Dispose();
            }
        }
    }
}
