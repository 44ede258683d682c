using System.Collections.Concurrent;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Microsoft.Extensions.Logging;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Messaging.Protos;
using P2PNet.Peers;

namespace P2PNet.Messaging;

/// <summary>
/// The messenger over a <see cref="P2PHost"/>. Each message travels as a length-prefixed envelope
/// <c>{ type: full protobuf name, payload }</c> on <see cref="ProtocolId"/>; one stream per peer is kept open and reused.
/// </summary>
/// <remarks>Thread-safe. Sends to one peer are serialised; sends to different peers run in parallel.</remarks>
public sealed partial class Messenger : IMessenger, IAsyncDisposable
{
    /// <summary>The protocol id.</summary>
    public const string ProtocolId = "/p2pnet/messenger/1.0.0";

    /// <summary>Largest envelope accepted or sent. Default 4 MiB.</summary>
    public const int DefaultMaxMessageSize = 4 * 1024 * 1024;

    private readonly P2PHost _host;
    private readonly ILogger _logger;
    private readonly int _maxMessageSize;
    private readonly ConcurrentDictionary<string, List<Func<PeerId, ByteString, CancellationToken, ValueTask>>> _handlers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<PeerId, Outbound> _outbound = new();
    private readonly Lock _lock = new();

    /// <summary>Creates the messenger and registers its protocol on <paramref name="host"/>.</summary>
    public Messenger(P2PHost host, ILogger<Messenger>? logger = null, int maxMessageSize = DefaultMaxMessageSize)
    {
        ArgumentNullException.ThrowIfNull(host);
        _host = host;
        _logger = logger ?? (ILogger)Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _maxMessageSize = maxMessageSize;
        host.SetStreamHandler(ProtocolId, ServeAsync);
    }

    /// <inheritdoc />
    public async ValueTask SendAsync<TMessage>(PeerId peer, TMessage message, CancellationToken cancellationToken = default)
        where TMessage : IMessage<TMessage>
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(message);
        byte[] envelope = new PbEnvelope { Type = message.Descriptor.FullName, Payload = message.ToByteString() }.ToByteArray();
        if (envelope.Length > _maxMessageSize)
        {
            throw new ArgumentException($"The message is {envelope.Length} bytes; the limit is {_maxMessageSize}.", nameof(message));
        }
        var outbound = _outbound.GetOrAdd(peer, static _ => new Outbound());
        await outbound.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // One retry: a cached stream may have died with its connection since the last send.
            for (int attempt = 0; ; attempt++)
            {
                try
                {
                    outbound.Stream ??= await _host.OpenStreamAsync(peer, ProtocolId, cancellationToken).ConfigureAwait(false);
                    await LengthPrefixed.WriteAsync(outbound.Stream.Output, envelope, cancellationToken).ConfigureAwait(false);
                    return;
                }
                catch (Exception e) when (attempt == 0 && outbound.Stream is not null && e is IOException or ObjectDisposedException or InvalidOperationException)
                {
                    await outbound.Stream.DisposeAsync().ConfigureAwait(false);
                    outbound.Stream = null;
                }
            }
        }
        finally
        {
            outbound.Gate.Release();
        }
    }

    /// <inheritdoc />
    public IDisposable Subscribe<TMessage>(Func<PeerId, TMessage, CancellationToken, ValueTask> handler)
        where TMessage : IMessage<TMessage>, new()
    {
        ArgumentNullException.ThrowIfNull(handler);
        MessageDescriptor descriptor = new TMessage().Descriptor;
        MessageParser<TMessage> parser = new(() => new TMessage());
        Func<PeerId, ByteString, CancellationToken, ValueTask> entry = (from, payload, ct) => handler(from, parser.ParseFrom(payload), ct);
        var list = _handlers.GetOrAdd(descriptor.FullName, static _ => []);
        lock (_lock)
        {
            list.Add(entry);
        }
        return new Unsubscriber(() =>
        {
            lock (_lock)
            {
                list.Remove(entry);
            }
        });
    }

    /// <inheritdoc />
    public async ValueTask<(PeerId From, TMessage Message)> ReceiveAsync<TMessage>(CancellationToken cancellationToken = default)
        where TMessage : IMessage<TMessage>, new()
    {
        var received = new TaskCompletionSource<(PeerId, TMessage)>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = Subscribe<TMessage>((from, message, _) =>
        {
            received.TrySetResult((from, message));
            return ValueTask.CompletedTask;
        });
        return await received.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task ServeAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        while (true)
        {
            byte[]? bytes = await LengthPrefixed.ReadAsync(stream.Input, _maxMessageSize, cancellationToken).ConfigureAwait(false);
            if (bytes is null)
            {
                return;
            }
            PbEnvelope envelope;
            try
            {
                envelope = PbEnvelope.Parser.ParseFrom(bytes);
            }
            catch (InvalidProtocolBufferException e)
            {
                throw new WireFormatException($"A message from {stream.RemotePeer} is not a valid envelope: {e.Message}", e);
            }
            Func<PeerId, ByteString, CancellationToken, ValueTask>[] handlers;
            lock (_lock)
            {
                handlers = _handlers.TryGetValue(envelope.Type, out var list) ? [.. list] : [];
            }
            if (handlers.Length == 0)
            {
                LogUnhandled(_logger, envelope.Type, stream.RemotePeer);
                continue;
            }
            foreach (var handler in handlers)
            {
                try
                {
                    await handler(stream.RemotePeer, envelope.Payload, cancellationToken).ConfigureAwait(false);
                }
                catch (InvalidProtocolBufferException e)
                {
                    throw new WireFormatException($"A {envelope.Type} from {stream.RemotePeer} does not parse: {e.Message}", e);
                }
#pragma warning disable CA1031 // an application handler's bug must not drop the peer's stream
                catch (Exception e) when (e is not OperationCanceledException)
#pragma warning restore CA1031
                {
                    LogHandlerFailed(_logger, e, envelope.Type, stream.RemotePeer);
                }
            }
        }
    }

    /// <summary>Closes the cached outbound streams and stops serving the protocol.</summary>
    public async ValueTask DisposeAsync()
    {
        _host.RemoveStreamHandler(ProtocolId);
        foreach (var outbound in _outbound.Values)
        {
            if (outbound.Stream is not null)
            {
                await outbound.Stream.DisposeAsync().ConfigureAwait(false);
            }
            outbound.Gate.Dispose();
        }
        _outbound.Clear();
    }

    [LoggerMessage(1601, LogLevel.Warning, "Dropped a {Type} from {Peer}: nobody subscribed to that message type")]
    private static partial void LogUnhandled(ILogger logger, string type, PeerId peer);

    [LoggerMessage(1602, LogLevel.Warning, "A handler of {Type} from {Peer} threw")]
    private static partial void LogHandlerFailed(ILogger logger, Exception error, string type, PeerId peer);

    private sealed class Outbound
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        public P2PStream? Stream { get; set; }
    }

    private sealed class Unsubscriber(Action action) : IDisposable
    {
        private Action? _action = action;

        public void Dispose() => Interlocked.Exchange(ref _action, null)?.Invoke();
    }
}
