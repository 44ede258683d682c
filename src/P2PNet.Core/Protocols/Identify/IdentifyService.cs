using Google.Protobuf;
using Microsoft.Extensions.Logging;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Host.Internal;
using P2PNet.IO;
using P2PNet.Multiformats;
using P2PNet.Protocols.Identify.Protos;

namespace P2PNet.Protocols.Identify;

/// <summary>
/// identify and identify push (libp2p/specs identify/README.md). On every new connection we ask the peer who it is;
/// we answer the same question; and when our protocols or listen addresses change we push the news to every peer.
/// </summary>
internal sealed class IdentifyService(P2PHost host, ILogger logger) : IHostService
{
    private readonly TaskTracker _exchanges = new();
    private volatile bool _running;

    /// <summary>The identify protocol id.</summary>
    public const string Id = "/ipfs/id/1.0.0";

    /// <summary>The identify push protocol id.</summary>
    public const string PushId = "/ipfs/id/push/1.0.0";

    public void Register()
    {
        host.SetStreamHandler(Id, ServeAsync);
        host.SetStreamHandler(PushId, ReceivePushAsync);
    }

    /// <inheritdoc />
    public string Name => "identify";

    /// <summary>From now on new connections are identified and changes pushed (the handlers are registered with the
    /// host's own protocols, before start, so that the first identify we answer lists them).</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _running = true;
        return Task.CompletedTask;
    }

    /// <summary>Waits for the exchanges still running (the connections are closed by then, so they end at once).</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _running = false;
        await _exchanges.WhenAllAsync(host.Options.ShutdownTimeout).ConfigureAwait(false);
    }

    public void OnConnected(P2PConnection connection)
    {
        if (_running)
        {
            Track(IdentifyAsync(connection));
        }
    }

    public void PushToAll()
    {
        if (!_running)
        {
            return;
        }
        foreach (var connection in host.Connections)
        {
            Track(PushAsync(connection));
        }
    }

    private void Track(Task task) => _exchanges.Track(task);

    private PbIdentify BuildMessage(P2PConnection connection) => new()
    {
        ProtocolVersion = host.Options.ProtocolVersion,
        AgentVersion = host.Options.AgentVersion,
        PublicKey = ByteString.CopyFrom(host.PublicKey.ToProtobuf()),
        ListenAddrs = { host.ListenAddresses.Select(a => ByteString.CopyFrom(a.WithoutPeerId().ToBytes())) },
        ObservedAddr = ByteString.CopyFrom(connection.RemoteAddress.ToBytes()),
        Protocols = { host.Protocols },
    };

    private async Task ServeAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        byte[] message = BuildMessage(stream.Connection).ToByteArray();
        await LengthPrefixed.WriteAsync(stream.Output, message, cancellationToken).ConfigureAwait(false);
        await stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task IdentifyAsync(P2PConnection connection)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(host.StoppingToken);
            timeout.CancelAfter(host.Options.NegotiationTimeout * 2);
            var stream = await connection.OpenStreamAsync(Id, timeout.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                // The answer first, without throwing: a connection closed while identify is in flight (every short-lived
                // connection) ends the exchange here, instead of by an exception unwound through the whole read path.
                // Our FIN waited for the answer already, so the wire sees the same bytes in the same order.
                if (await stream.NegotiationFailureAsync(timeout.Token).ConfigureAwait(false) is { } failure)
                {
                    Failed(connection, failure);
                    return;
                }
                await stream.CompleteWritesAsync(timeout.Token).ConfigureAwait(false);
                var merged = await ReadAllAsync(stream, timeout.Token).ConfigureAwait(false);
                var record = Apply(connection, merged, push: false);
                if (record is not null)
                {
                    host.Events.Publish(new PeerIdentificationCompleted(connection.RemotePeer, record));
                }
            }
        }
#pragma warning disable CA1031 // identify failing must not close the connection; it is logged and raised as an event
        catch (Exception e)
#pragma warning restore CA1031
        {
            Failed(connection, e);
        }
    }

    private void Failed(P2PConnection connection, Exception error)
    {
        HostLog.IdentifyFailed(logger, connection.RemotePeer, error.Message);
        host.Events.Publish(new PeerIdentificationFailed(connection.RemotePeer, error));
    }

    /// <summary>A peer may split one identify over several messages: read and merge until end of stream.</summary>
    private async Task<PbIdentify> ReadAllAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        var merged = new PbIdentify();
        int total = 0;
        while (true)
        {
            byte[]? message = await LengthPrefixed.ReadAsync(stream.Input, host.Options.MaxIdentifyMessageSize, cancellationToken).ConfigureAwait(false);
            if (message is null)
            {
                return merged;
            }
            total += message.Length;
            if (total > host.Options.MaxIdentifyMessageSize)
            {
                throw new WireFormatException($"Identify from {stream.RemotePeer} exceeds {host.Options.MaxIdentifyMessageSize} bytes.");
            }
            try
            {
                merged.MergeFrom(message);
            }
            catch (InvalidProtocolBufferException e)
            {
                throw new WireFormatException($"Identify from {stream.RemotePeer} is not a valid protobuf: {e.Message}", e);
            }
        }
    }

    private async Task ReceivePushAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        var merged = await ReadAllAsync(stream, cancellationToken).ConfigureAwait(false);
        var record = Apply(stream.Connection, merged, push: true);
        if (record is not null)
        {
            host.Events.Publish(new PeerIdentificationCompleted(stream.RemotePeer, record));
        }
    }

    private async Task PushAsync(P2PConnection connection)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(host.StoppingToken);
            timeout.CancelAfter(host.Options.NegotiationTimeout);
            var stream = await connection.OpenStreamAsync(PushId, timeout.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                await LengthPrefixed.WriteAsync(stream.Output, BuildMessage(connection).ToByteArray(), timeout.Token).ConfigureAwait(false);
                await stream.CompleteWritesAsync(timeout.Token).ConfigureAwait(false);
            }
        }
#pragma warning disable CA1031 // a peer that does not take pushes is fine
        catch (Exception e)
#pragma warning restore CA1031
        {
            HostLog.IdentifyPushFailed(logger, connection.RemotePeer, e.Message);
        }
    }

    private Peers.PeerRecord? Apply(P2PConnection connection, PbIdentify message, bool push)
    {
        PublicKey? key = null;
        if (message.HasPublicKey)
        {
            key = PublicKey.FromProtobuf(message.PublicKey.Span);
            if (!connection.RemotePeer.Matches(key))
            {
                if (host.Resources.LogLimiter.TryAcquire("identify.key-mismatch", out long suppressed))
                {
                    HostLog.IdentifyKeyMismatch(logger, connection.RemotePeer, suppressed);
                }

                return null;
            }
        }
        var listen = message.ListenAddrs.Count > 0 || !push ? ParseAddresses(message.ListenAddrs) : null;
        var protocols = message.Protocols.Count > 0 || !push ? message.Protocols.ToArray() : null;
        Multiaddr? observed = null;
        if (message.HasObservedAddr)
        {
            try
            {
                observed = Multiaddr.FromBytes(message.ObservedAddr.Span);
            }
            catch (WireFormatException)
            {
            }
        }
        if (observed is not null)
        {
            host.OnObservedAddress(connection, observed);
        }
        return host.PeerStore.ApplyIdentify(connection.RemotePeer, key ?? connection.RemotePublicKey, listen, protocols,
            message.HasAgentVersion ? message.AgentVersion : null,
            message.HasProtocolVersion ? message.ProtocolVersion : null, observed);
    }

    private static Multiaddr[] ParseAddresses(IEnumerable<ByteString> addresses)
    {
        var result = new List<Multiaddr>();
        foreach (var bytes in addresses)
        {
            try
            {
                result.Add(Multiaddr.FromBytes(bytes.Span));
            }
            catch (WireFormatException)
            {
                // skip addresses we cannot read (e.g. protocols we do not know); keep the rest
            }
        }
        return [.. result];
    }
}
