using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using P2PNet.Proxy.UdpBridge;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>A standalone bridge on 127.0.0.1:0 with a metrics recorder; loopback allowed unless told otherwise.</summary>
internal sealed class TestBridge : IAsyncDisposable
{
    private TestBridge(UdpBridgeServer server, BridgeMetricsRecorder metrics)
    {
        Server = server;
        Metrics = metrics;
    }

    public UdpBridgeServer Server { get; }

    public BridgeMetricsRecorder Metrics { get; }

    public Uri Url => Server.Url;

    public static async Task<TestBridge> StartAsync(Action<UdpBridgeOptions>? configure = null, bool allowLoopback = true)
    {
        var server = new UdpBridgeServer(new IPEndPoint(IPAddress.Loopback, 0), options =>
        {
            if (allowLoopback)
            {
                options.AllowedNetworks.Add(IPNetwork.Parse("127.0.0.0/8"));
                options.AllowedNetworks.Add(IPNetwork.Parse("::1/128"));
            }

            configure?.Invoke(options);
        });
        await server.StartAsync().WaitAsync(BridgeClient.Timeout);
        var metrics = new BridgeMetricsRecorder(server.Services.GetRequiredService<IMeterFactory>());
        return new TestBridge(server, metrics);
    }

    public Task<BridgeClient> ConnectAsync() => BridgeClient.ConnectAsync(Url);

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        Metrics.Dispose();
    }
}
