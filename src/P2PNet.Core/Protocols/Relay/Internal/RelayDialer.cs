using Google.Protobuf;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Protocols.Relay.Protos;

namespace P2PNet.Protocols.Relay.Internal;

/// <summary>Dials through a relay: hop CONNECT, then the hop stream is upgraded like a TCP connection
/// (libp2p/specs relay/circuit-v2.md, "Connection Initiation").</summary>
internal static class RelayDialer
{
    /// <summary>Answers from a relay are small; go-libp2p bounds them at 4 KiB too.</summary>
    public const int MaxMessageSize = 4096;

    /// <param name="host">Our host.</param>
    /// <param name="address"><c>&lt;relay address&gt;/p2p/&lt;relay&gt;/p2p-circuit</c> (the destination id removed).</param>
    /// <param name="destination">The peer to reach.</param>
    /// <param name="cancellationToken">Cancels the dial.</param>
    /// <exception cref="RelayRefusedException">The relay or the destination refused.</exception>
    public static async Task<P2PConnection> DialAsync(P2PHost host, Multiaddr address, PeerId destination, CancellationToken cancellationToken)
    {
        Multiaddr relayAddress = address.Decapsulate(MultiaddrProtocol.P2pCircuit);
        PeerId relay = relayAddress.GetPeerId()
            ?? throw new ArgumentException($"The circuit address {address} does not name its relay (/p2p/<relay id>/p2p-circuit).", nameof(address));
        if (relay.Equals(destination) || relay.Equals(host.PeerId) || destination.Equals(host.PeerId))
        {
            throw new ArgumentException($"The circuit address {address} relays to or through ourselves or the relay itself.", nameof(address));
        }
        P2PConnection relayConnection = relayAddress.Components.Count == 1
            ? await host.DialAsync(relay, cancellationToken).ConfigureAwait(false)
            : await host.DialAsync(relayAddress, cancellationToken).ConfigureAwait(false);
        if (relayConnection.IsLimited)
        {
            throw new RelayRefusedException(RelayStatus.PermissionDenied, $"Our only connection to the relay {relay} is itself relayed; relays do not chain.");
        }
        P2PStream stream = await relayConnection.OpenStreamAsync(RelayProtocol.HopId, cancellationToken).ConfigureAwait(false);
        try
        {
            var request = new PbHopMessage
            {
                Type = PbHopMessage.Types.Type.Connect,
                Peer = new PbRelayPeer { Id = ByteString.CopyFrom(destination.Bytes) },
            };
            await RelayMessages.WriteAsync(stream, request, cancellationToken).ConfigureAwait(false);
            PbHopMessage answer = await RelayMessages.ReadHopAsync(stream, MaxMessageSize, cancellationToken).ConfigureAwait(false)
                ?? throw new IOException($"The relay {relay} closed the stream without answering the connection request.");
            if (answer.Type != PbHopMessage.Types.Type.Status || !answer.HasStatus)
            {
                throw new ProtocolViolationException($"The relay {relay} answered a connection request with {answer.Type} instead of a status.");
            }
            if (answer.Status != PbStatus.Ok)
            {
                throw new RelayRefusedException((RelayStatus)answer.Status,
                    $"The relay {relay} refused to connect us to {destination}: {(RelayStatus)answer.Status}.");
            }
        }
        catch
        {
            stream.Abort();
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        Multiaddr viaRelay = relayConnection.RemoteAddress.WithPeerId(relay).Encapsulate("/p2p-circuit");
        var raw = new RelayedConnection(stream, relayConnection.LocalAddress, viaRelay);
        return await host.UpgradeAndAddAsync(raw, ConnectionDirection.Outbound, destination, limited: true, cancellationToken).ConfigureAwait(false);
    }
}
