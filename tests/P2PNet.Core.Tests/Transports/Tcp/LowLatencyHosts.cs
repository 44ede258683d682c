using P2PNet.Host;
using P2PNet.Protocols.Ping;
using P2PNet.Testing;
using P2PNet.Transports.Tcp;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Transports;

/// <summary>Two hosts on loopback TCP (Noise, Yamux) where either or both use
/// <see cref="TcpTransportOptions.LowLatency"/>, and the waits the <see cref="LowLatencyGroup"/> tests share.</summary>
internal static class LowLatencyHosts
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Host 0 (the dialer in the tests) and host 1 (the listener), each with its own choice of LowLatency.</summary>
    public static Task<TestHostGroup> StartAsync(ITestOutputHelper output, bool dialer = true, bool listener = true,
        Action<int, P2PHostOptions>? configure = null) =>
        TestHostGroup.StartAsync(2, (i, o) =>
        {
            o.Tcp.LowLatency = i == 0 ? dialer : listener;
            configure?.Invoke(i, o);
        }, XunitLoggerProvider.CreateFactory(output)).WaitAsync(Timeout);

    /// <summary>Waits until exactly <paramref name="expected"/> receive threads are alive in the process.</summary>
    public static Task WaitForReceiveThreadsAsync(int expected, string what) =>
        Conditions.WaitUntilAsync(() => SocketConnection.ReceiveThreads == expected, Timeout,
            () => $"{what}: expected {expected} receive threads, found {SocketConnection.ReceiveThreads}");

    /// <summary>The one connection of <paramref name="host"/>, once it has it (a listener may register a connection a
    /// moment after the dialer's dial returned).</summary>
    public static async Task<P2PConnection> SingleConnectionAsync(P2PHost host)
    {
        await Conditions.WaitUntilAsync(() => host.Connections.Count == 1, Timeout,
            () => $"expected one connection on {host.PeerId}, found {host.Connections.Count}");
        return host.Connections.Single();
    }

    /// <summary>Sends <paramref name="count"/> pings on <paramref name="connection"/> and returns how many came back.</summary>
    public static async Task<int> PingAsync(P2PConnection connection, int count = 3)
    {
        using var deadline = new CancellationTokenSource(Timeout);
        int answered = 0;
        await foreach (var _ in PingProtocol.PingAsync(connection, count).WithCancellation(deadline.Token))
        {
            answered++;
        }
        return answered;
    }
}
