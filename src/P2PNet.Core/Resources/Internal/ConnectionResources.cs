using System.Net;
using P2PNet.Host;
using P2PNet.Peers;

namespace P2PNet.Resources.Internal;

/// <summary>
/// One connection's budget and what it holds in the wider budgets (system, its IP, its peer, protocols). Created when an
/// inbound connection is accepted or an outbound dial starts; <see cref="Dispose"/> gives back everything it still holds,
/// whatever state it is in, so no path leaks.
/// </summary>
/// <remarks>
/// Thread-safe: every operation takes <see cref="_sync"/> (per connection, so uncontended across connections); the wider
/// scopes are lock-free. Never calls back into the muxer, so the muxer may call it under its own locks.
/// </remarks>
internal sealed class ConnectionResources : IDisposable
{
    private readonly ResourceManager _manager;
    private readonly IPAddress? _remote;
    private readonly IPAddress? _ipKey;
    private readonly ResourceScope? _ip;
    private readonly bool _ipAllowed;
    private readonly ResourceScope _scope;
    private readonly Lock _sync = new();
    private readonly Dictionary<(string Protocol, bool Outbound), int> _protocols = [];

    private PeerId? _peer;
    private ResourceScope? _peerScope;
    private bool _bypass;
    private bool _handshaking;
    private bool _connectionCounted;
    private bool _disposed;

    internal ConnectionResources(ResourceManager manager, ConnectionDirection direction, IPAddress? remote, IPAddress? ipKey,
        ResourceScope? ip, bool ipAllowed)
    {
        _manager = manager;
        Direction = direction;
        _remote = remote;
        _ipKey = ipKey;
        _ip = ip;
        _ipAllowed = ipAllowed;
        _bypass = ipAllowed;
        _scope = manager.NewConnectionScope();
        // Inbound: Open took a handshake slot. Outbound: Open took the connection slot (system and IP) for the dial.
        _handshaking = direction == ConnectionDirection.Inbound;
        _connectionCounted = direction == ConnectionDirection.Outbound;
    }

    public ConnectionDirection Direction { get; }

    /// <summary>The host's limiter for log lines a peer can trigger.</summary>
    public Logging.LogRateLimiter LogLimiter => _manager.LogLimiter;

    /// <summary>What this connection holds.</summary>
    public ScopeUsage Usage => _scope.Usage;

    private string Remote => _peer?.ToString() ?? _remote?.ToString() ?? "?";

    /// <summary>
    /// The handshake authenticated <paramref name="peer"/>: counts the connection in the peer's budget (and, inbound, in
    /// the host's and the IP's connection budgets). An allow-listed peer or address bypasses the per-IP and per-peer limits.
    /// </summary>
    /// <exception cref="ResourceLimitExceededException">A budget is full; close the connection.</exception>
    public void SetPeer(PeerId peer)
    {
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_peerScope is not null)
            {
                throw new InvalidOperationException("The connection's peer is already set.");
            }

            _bypass = _ipAllowed || _manager.IsAllowed(peer);
            ResourceScope peerScope = _manager.AcquirePeer(peer);
            ResourceKind kind = Direction == ConnectionDirection.Inbound ? ResourceKind.InboundConnections : ResourceKind.OutboundConnections;
            if (!Reserve(peerScope, kind, 1))
            {
                _manager.ReleasePeer(peer, peerScope);
                throw _manager.Refuse(peerScope, kind, Direction, peer.ToString());
            }

            if (Direction == ConnectionDirection.Inbound)
            {
                if (_ip is not null && !Reserve(_ip, kind, 1))
                {
                    peerScope.Release(kind, 1);
                    _manager.ReleasePeer(peer, peerScope);
                    throw _manager.Refuse(_ip, kind, Direction, Remote);
                }

                if (!_manager.System.TryReserve(kind, 1))
                {
                    _ip?.Release(kind, 1);
                    peerScope.Release(kind, 1);
                    _manager.ReleasePeer(peer, peerScope);
                    throw _manager.Refuse(_manager.System, kind, Direction, Remote);
                }

                _connectionCounted = true;
            }

            _peer = peer;
            _peerScope = peerScope;
        }
    }

    /// <summary>The upgrade finished: gives back the inbound handshake slot.</summary>
    public void CompleteHandshake()
    {
        lock (_sync)
        {
            ReleaseHandshakeLocked();
        }
    }

    /// <summary>
    /// A stream opens: takes a stream slot and <paramref name="memory"/> bytes (its buffers) from the connection, the peer
    /// and the host. Allow-listed peers bypass the peer's limits.
    /// </summary>
    public bool TryOpenStream(bool outbound, long memory, out ResourceLimitExceededException? refusal)
    {
        ResourceKind kind = outbound ? ResourceKind.OutboundStreams : ResourceKind.InboundStreams;
        lock (_sync)
        {
            if (_disposed)
            {
                refusal = new ResourceLimitExceededException("The connection is closed.");
                return false;
            }

            if (!TryReserveAllLocked(kind, 1, out refusal))
            {
                return false;
            }

            if (!TryReserveAllLocked(ResourceKind.Memory, memory, out refusal))
            {
                ReleaseAllLocked(kind, 1);
                return false;
            }

            return true;
        }
    }

    /// <summary>A stream closed: gives back its slot, <paramref name="memory"/> bytes, and its protocol's slot.</summary>
    public void CloseStream(bool outbound, long memory, string? protocol)
    {
        lock (_sync)
        {
            if (_disposed)
            {
                return; // Dispose gave everything back
            }

            ReleaseAllLocked(outbound ? ResourceKind.OutboundStreams : ResourceKind.InboundStreams, 1);
            ReleaseAllLocked(ResourceKind.Memory, memory);
            if (protocol is not null)
            {
                ReleaseProtocolLocked(protocol, outbound);
            }
        }
    }

    /// <summary>Takes <paramref name="bytes"/> more buffer memory (a receive window grows).</summary>
    public bool TryReserveMemory(long bytes)
    {
        lock (_sync)
        {
            return !_disposed && TryReserveAllLocked(ResourceKind.Memory, bytes, out _);
        }
    }

    /// <summary>A stream negotiated <paramref name="protocol"/>: takes a slot of the protocol's budget.</summary>
    public bool TryAddProtocol(string protocol, bool outbound, out ResourceLimitExceededException? refusal)
    {
        ResourceKind kind = outbound ? ResourceKind.OutboundStreams : ResourceKind.InboundStreams;
        lock (_sync)
        {
            if (_disposed)
            {
                refusal = new ResourceLimitExceededException("The connection is closed.");
                return false;
            }

            ResourceScope scope = _manager.Protocol(protocol);
            if (!scope.TryReserve(kind, 1))
            {
                refusal = _manager.Refuse(scope, kind, outbound ? ConnectionDirection.Outbound : ConnectionDirection.Inbound, $"{Remote}, {protocol}");
                return false;
            }

            var key = (protocol, outbound);
            _protocols[key] = _protocols.GetValueOrDefault(key) + 1;
            refusal = null;
            return true;
        }
    }

    /// <summary>Gives back a protocol slot taken by <see cref="TryAddProtocol"/> for a stream that then failed to attach.</summary>
    public void RemoveProtocol(string protocol, bool outbound)
    {
        lock (_sync)
        {
            if (!_disposed)
            {
                ReleaseProtocolLocked(protocol, outbound);
            }
        }
    }

    /// <summary>Gives back everything the connection holds: connection and handshake slots, streams, memory, protocols.</summary>
    public void Dispose()
    {
        lock (_sync)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            ReleaseHandshakeLocked();
            foreach (ResourceKind kind in (ReadOnlySpan<ResourceKind>)[ResourceKind.InboundStreams, ResourceKind.OutboundStreams, ResourceKind.Memory])
            {
                ReleaseAllLocked(kind, _scope.Used(kind));
            }

            foreach (((string protocol, bool outbound), int count) in _protocols)
            {
                _manager.Protocol(protocol).Release(outbound ? ResourceKind.OutboundStreams : ResourceKind.InboundStreams, count);
            }

            _protocols.Clear();
            ResourceKind connections = Direction == ConnectionDirection.Inbound ? ResourceKind.InboundConnections : ResourceKind.OutboundConnections;
            if (_connectionCounted)
            {
                _manager.System.Release(connections, 1);
                _ip?.Release(connections, 1);
            }

            if (_peerScope is not null)
            {
                _peerScope.Release(connections, 1);
                _manager.ReleasePeer(_peer!, _peerScope);
                _peerScope = null;
            }

            if (_ip is not null)
            {
                _manager.ReleaseIp(_ipKey!, _ip);
            }
        }
    }

    private void ReleaseHandshakeLocked()
    {
        if (!_handshaking)
        {
            return;
        }

        _handshaking = false;
        _manager.System.Release(ResourceKind.InboundHandshakes, 1);
        _ip?.Release(ResourceKind.InboundHandshakes, 1);
    }

    /// <summary>Reserves in a per-IP or per-peer scope: checked, or only counted for allow-listed remotes.</summary>
    private bool Reserve(ResourceScope scope, ResourceKind kind, long amount)
    {
        if (_bypass)
        {
            scope.Add(kind, amount);
            return true;
        }

        return scope.TryReserve(kind, amount);
    }

    /// <summary>Connection, then peer, then system: the narrowest full budget is the one reported.</summary>
    private bool TryReserveAllLocked(ResourceKind kind, long amount, out ResourceLimitExceededException? refusal)
    {
        ConnectionDirection? direction = kind switch
        {
            ResourceKind.InboundStreams => ConnectionDirection.Inbound,
            ResourceKind.OutboundStreams => ConnectionDirection.Outbound,
            _ => null,
        };
        if (!_scope.TryReserve(kind, amount))
        {
            refusal = _manager.Refuse(_scope, kind, direction, Remote);
            return false;
        }

        if (_peerScope is not null && !Reserve(_peerScope, kind, amount))
        {
            _scope.Release(kind, amount);
            refusal = _manager.Refuse(_peerScope, kind, direction, Remote);
            return false;
        }

        if (!_manager.System.TryReserve(kind, amount))
        {
            _peerScope?.Release(kind, amount);
            _scope.Release(kind, amount);
            refusal = _manager.Refuse(_manager.System, kind, direction, Remote);
            return false;
        }

        refusal = null;
        return true;
    }

    private void ReleaseAllLocked(ResourceKind kind, long amount)
    {
        if (amount == 0)
        {
            return;
        }

        _scope.Release(kind, amount);
        _peerScope?.Release(kind, amount);
        _manager.System.Release(kind, amount);
    }

    private void ReleaseProtocolLocked(string protocol, bool outbound)
    {
        var key = (protocol, outbound);
        if (_protocols.TryGetValue(key, out int count))
        {
            if (count == 1)
            {
                _protocols.Remove(key);
            }
            else
            {
                _protocols[key] = count - 1;
            }

            _manager.Protocol(protocol).Release(outbound ? ResourceKind.OutboundStreams : ResourceKind.InboundStreams, 1);
        }
    }
}
