namespace P2PNet.Core.Tests.Transports;

/// <summary>Every test of <see cref="P2PNet.Transports.Tcp.TcpTransportOptions.LowLatency"/> connections: they run
/// alone, so that <see cref="P2PNet.Transports.Tcp.SocketConnection.ReceiveThreads"/> (process-wide) counts only the
/// receive threads of the test that reads it.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LowLatencyGroup
{
    /// <summary>The collection's name.</summary>
    public const string Name = "tcp-low-latency";
}
