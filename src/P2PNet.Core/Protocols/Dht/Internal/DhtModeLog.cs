using Microsoft.Extensions.Logging;
using P2PNet.Host;

namespace P2PNet.Protocols.Dht.Internal;

/// <summary>The DHT's client/server switching (event ids 1822–1823; 1820–1821 are the host's peer routing).</summary>
internal static partial class DhtModeLog
{
    [LoggerMessage(EventId = 1822, Level = LogLevel.Information, Message = "DHT: serving {Protocol} (mode {Mode}, reachability {Reachability})")]
    public static partial void Serving(ILogger logger, string protocol, KadDhtMode mode, Reachability reachability);

    [LoggerMessage(EventId = 1823, Level = LogLevel.Information, Message = "DHT: client only, {Protocol} not served (mode {Mode}, reachability {Reachability})")]
    public static partial void ClientOnly(ILogger logger, string protocol, KadDhtMode mode, Reachability reachability);
}
