using System.IO.Pipelines;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Transports;

namespace P2PNet.Protocols.Relay.Internal;

/// <summary>A relayed stream (hop on the dialer's side, stop on the listener's) as a raw connection, to be upgraded with
/// Noise and Yamux like a TCP connection (libp2p/specs relay/circuit-v2.md, "Interaction").</summary>
internal sealed class RelayedConnection : TransportConnection
{
    private readonly P2PStream _stream;

    public RelayedConnection(P2PStream stream, Multiaddr localAddress, Multiaddr remoteAddress)
    {
        _stream = stream;
        LocalAddress = localAddress;
        RemoteAddress = remoteAddress;
    }

    public override PipeReader Input => _stream.Input;

    public override PipeWriter Output => _stream.Output;

    public override Multiaddr LocalAddress { get; }

    public override Multiaddr RemoteAddress { get; }

    public override void Abort() => _stream.Abort();

    public override ValueTask DisposeAsync() => _stream.DisposeAsync();
}
