using System.Net;
using System.Net.Sockets;
using P2PNet.Proxy.Inbound.Internal;

namespace P2PNet.Proxy.Inbound;

public sealed partial class InboundProxy
{
    /// <summary>Registers a probe (<c>PUT /probe-api/v1/{proto}/{addr}</c>): binds a probe socket at the address, or adds
    /// the pair to the one bound there.</summary>
    /// <returns>True when a socket was bound for it, false when it joined a bound one.</returns>
    /// <exception cref="InboundProxyException">A gateway socket holds the address, or a limit is reached
    /// (<see cref="InboundProxyError.Conflict"/>); the address cannot be bound (<see cref="InboundProxyError.BindFailed"/>);
    /// an empty id or token (<see cref="InboundProxyError.InvalidArgument"/>).</exception>
    public Task<bool> AddProbeAsync(InboundProtocol protocol, IPEndPoint endPoint, InboundProbe probe, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentNullException.ThrowIfNull(probe);
        RequireText(probe.RequestorId, nameof(InboundProbe.RequestorId));
        RequireText(probe.Token, nameof(InboundProbe.Token));
        return ChangeAsync(() =>
        {
            var key = (protocol, endPoint);
            ProbeSocket? socket;
            lock (_state)
            {
                if (_gateways.ContainsKey(key))
                {
                    throw new InboundProxyException(InboundProxyError.Conflict,
                        $"A gateway socket is bound at {FormatSocket(protocol, endPoint)}: delete it before probing the address.", "addr");
                }
                _probes.TryGetValue(key, out socket);
                if (socket is null && SocketCountLocked >= _options.MaxSockets)
                {
                    throw new InboundProxyException(InboundProxyError.Conflict, $"{_options.MaxSockets} sockets are bound: the limit.", "addr");
                }
            }
            if (socket is not null)
            {
                return socket.Add(probe)
                    ? Task.FromResult(false)
                    : throw new InboundProxyException(InboundProxyError.Conflict,
                        $"The probe socket at {FormatSocket(protocol, endPoint)} holds {_options.MaxProbesPerSocket} probes: the limit.", "addr");
            }
            socket = new ProbeSocket(protocol, endPoint, _options, _sources, _logger);
            socket.Add(probe);
            try
            {
                socket.Start();
            }
            catch (SocketException e)
            {
                _ = socket.DisposeAsync().AsTask();
                throw BindFailed(protocol, endPoint, e);
            }
            lock (_state)
            {
                _probes.Add(key, socket);
            }
            InboundLog.ProbeBound(_logger, FormatProtocol(protocol), endPoint.ToString());
            return Task.FromResult(true);
        }, cancellationToken);
    }

    /// <summary>Every probe socket and its probes (<c>GET /probe-api/v1/</c>).</summary>
    public IReadOnlyList<InboundProbeSocket> GetProbeSockets()
    {
        lock (_state)
        {
            return [.. _probes.Values.Select(p => new InboundProbeSocket(FormatProtocol(p.Protocol), p.EndPoint.ToString(), p.Probes))];
        }
    }

    /// <summary>The probes at an address (<c>GET /probe-api/v1/{proto}/{addr}</c>).</summary>
    /// <exception cref="InboundProxyException"><see cref="InboundProxyError.NotFound"/>: no probe socket there.</exception>
    public IReadOnlyList<InboundProbe> GetProbes(InboundProtocol protocol, IPEndPoint endPoint) => FindProbeSocket(protocol, endPoint).Probes;

    /// <summary>The requestor's token at an address (<c>GET /probe-api/v1/{proto}/{addr}/{RequestorId}</c>).</summary>
    /// <exception cref="InboundProxyException"><see cref="InboundProxyError.NotFound"/>: no probe socket there, or no probe
    /// of that requestor.</exception>
    public string GetProbeToken(InboundProtocol protocol, IPEndPoint endPoint, string requestorId) =>
        FindProbeSocket(protocol, endPoint).TokenOf(requestorId)
        ?? throw new InboundProxyException(InboundProxyError.NotFound, $"No probe of requestor '{requestorId}' at {FormatSocket(protocol, endPoint)}.", "RequestorId");

    /// <summary>Removes a requestor's probes at an address, all of them or the one with <paramref name="token"/>
    /// (<c>DELETE /probe-api/v1/{proto}/{addr}/{RequestorId}[/{Token}]</c>); unbinds the socket when none is left.</summary>
    /// <returns>True when the socket was unbound.</returns>
    /// <exception cref="InboundProxyException"><see cref="InboundProxyError.NotFound"/>: no probe socket there, or no such probe.</exception>
    public Task<bool> RemoveProbesAsync(InboundProtocol protocol, IPEndPoint endPoint, string requestorId, string? token = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentNullException.ThrowIfNull(requestorId);
        return ChangeAsync(async () =>
        {
            var socket = FindProbeSocket(protocol, endPoint);
            if (socket.Remove(requestorId, token) == 0)
            {
                throw new InboundProxyException(InboundProxyError.NotFound, token is null
                    ? $"No probe of requestor '{requestorId}' at {FormatSocket(protocol, endPoint)}."
                    : $"No probe of requestor '{requestorId}' with that token at {FormatSocket(protocol, endPoint)}.", token is null ? "RequestorId" : "Token");
            }
            if (socket.Probes.Count > 0)
            {
                return false;
            }
            lock (_state)
            {
                _probes.Remove((protocol, endPoint));
            }
            await socket.DisposeAsync().ConfigureAwait(false);
            InboundLog.Unbound(_logger, FormatProtocol(protocol), endPoint.ToString());
            return true;
        }, cancellationToken);
    }

    private ProbeSocket FindProbeSocket(InboundProtocol protocol, IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        lock (_state)
        {
            return _probes.TryGetValue((protocol, endPoint), out var socket) ? socket : throw SocketNotFound(protocol, endPoint, "probe");
        }
    }

    private static void RequireText(string? value, string field)
    {
        if (string.IsNullOrWhiteSpace(value) || value.Length > 256 || value.Any(char.IsControl))
        {
            throw new InboundProxyException(InboundProxyError.InvalidArgument,
                $"{field} must be 1 to 256 characters without control characters.", field);
        }
    }
}
