using P2PNet.Host;
using P2PNet.Protocols.Dht.Internal;

namespace P2PNet.Protocols.Dht;

/// <summary>Client and server mode (libp2p/specs kad-dht, "Client and server mode"): only servers register the protocol
/// handler, so only they are listed by identify and put in peers' routing tables.</summary>
public sealed partial class KadDht
{
    private readonly Lock _modeLock = new();
    private KadDhtMode _mode;
    private bool _serving;
    private bool _running; // started and not disposed: the handler may be registered

    /// <summary>
    /// Client, server or automatic (<see cref="KadDhtMode"/>); starts as <see cref="KadDhtOptions.Mode"/>. Setting it on a
    /// started node registers or removes the protocol handler at once, and identify tells connected peers.
    /// </summary>
    public KadDhtMode Mode
    {
        get
        {
            lock (_modeLock)
            {
                return _mode;
            }
        }
        set
        {
            if (!Enum.IsDefined(value))
            {
                throw new ArgumentOutOfRangeException(nameof(value), $"{value} is not a KadDhtMode.");
            }
            lock (_modeLock)
            {
                _mode = value;
            }
            UpdateServing();
        }
    }

    /// <summary>Whether the node serves the protocol now: <see cref="KadDhtMode.Server"/>, or <see cref="KadDhtMode.Auto"/>
    /// on a host AutoNAT found publicly reachable; false before <see cref="Start"/> and after disposal.</summary>
    public bool IsServer
    {
        get
        {
            lock (_modeLock)
            {
                return _serving;
            }
        }
    }

    /// <summary>Registers or removes the protocol handler so that serving matches the mode (and, in
    /// <see cref="KadDhtMode.Auto"/>, the host's reachability); identify pushes the change to connected peers.</summary>
    private void UpdateServing()
    {
        lock (_modeLock)
        {
            if (!_running)
            {
                return;
            }
            var reachability = _host.Reachability;
            bool serve = _mode switch
            {
                KadDhtMode.Server => true,
                KadDhtMode.Auto => reachability == Reachability.Public,
                _ => false,
            };
            if (serve == _serving)
            {
                return;
            }
            _serving = serve;
            if (serve)
            {
                _host.SetStreamHandler(_options.ProtocolId, HandleAsync);
                DhtModeLog.Serving(_logger, _options.ProtocolId, _mode, reachability);
            }
            else
            {
                _host.RemoveStreamHandler(_options.ProtocolId);
                DhtModeLog.ClientOnly(_logger, _options.ProtocolId, _mode, reachability);
            }
        }
    }
}
