using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using Google.Protobuf.WellKnownTypes;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Muxing;
using P2PNet.Networking;
using P2PNet.Protocols.Echo;
using P2PNet.Protocols.Perf;
using P2PNet.Protocols.Ping;
using P2PNet.Security.Noise;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Host;

/// <summary>Two or more real hosts over TCP on loopback; the tests are split by feature into HostTests.*.cs (one partial class, so every test keeps its name).</summary>
public sealed partial class HostTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private Task<TestHostGroup> StartAsync(int count, Action<int, P2PHostOptions>? configure = null) =>
        TestHostGroup.StartAsync(count, configure, XunitLoggerProvider.CreateFactory(output)).WaitAsync(Timeout);

    private static Task<T> NewSignal<T>(P2PHost host, Func<T, bool>? predicate = null) where T : HostEvent
    {
        var signal = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        host.Events.Subscribe<T>(e =>
        {
            if (predicate is null || predicate(e))
            {
                signal.TrySetResult(e);
            }
        });
        return signal.Task;
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
