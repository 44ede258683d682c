using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Upgrade;

namespace P2PNet.Muxing.Yamux;

/// <summary>The Yamux stream muxer (<c>/yamux/1.0.0</c>, libp2p/specs yamux/README.md) as an <see cref="IStreamMuxer"/>.</summary>
/// <remarks>Thread-safe; one instance makes the sessions of every connection of a host. Each session copies
/// <see cref="YamuxOptions"/> when it is created.</remarks>
public sealed class YamuxStreamMuxer : IStreamMuxer
{
    /// <summary>The protocol id negotiated with multistream-select or announced in the security handshake.</summary>
    public const string Id = "/yamux/1.0.0";

    private readonly YamuxOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly TimeProvider _timeProvider;

    /// <summary>Creates the muxer.</summary>
    /// <param name="options">Windows, stream limits and keep-alive; validated when a session is created.</param>
    /// <param name="loggerFactory">Where the sessions log; none by default.</param>
    /// <param name="timeProvider">The sessions' clock; the system clock by default.</param>
    public YamuxStreamMuxer(YamuxOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The factory for <see cref="Host.P2PHostOptions.Muxers"/> (the default entry): Yamux with
    /// <see cref="Host.P2PHostOptions.Yamux"/>.</summary>
    public static IStreamMuxer Create(UpgradeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new YamuxStreamMuxer(context.Options.Yamux, context.LoggerFactory, context.TimeProvider);
    }

    /// <inheritdoc/>
    public string ProtocolId => Id;

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The <see cref="YamuxOptions"/> are invalid.</exception>
    public IMuxedSession CreateSession(IDuplexPipe connection, bool initiator) =>
        new YamuxSession(connection, isClient: initiator, _options, _loggerFactory.CreateLogger<YamuxSession>(), _timeProvider);
}
