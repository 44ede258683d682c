using Microsoft.Extensions.Logging;
using P2PNet.Crypto;
using P2PNet.Host;

namespace P2PNet.Upgrade;

/// <summary>What a host hands the factories of <see cref="P2PHostOptions.SecurityProtocols"/> and
/// <see cref="P2PHostOptions.Muxers"/> when it builds its upgrade pipeline (once, at its first connection).</summary>
public sealed class UpgradeContext
{
    /// <summary>Creates a context.</summary>
    public UpgradeContext(PrivateKey identity, P2PHostOptions options, IReadOnlyList<string> muxers, ILoggerFactory loggerFactory, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(muxers);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(timeProvider);
        Identity = identity;
        Options = options;
        Muxers = muxers;
        LoggerFactory = loggerFactory;
        TimeProvider = timeProvider;
    }

    /// <summary>The host's identity key (owned by the host: do not dispose it).</summary>
    public PrivateKey Identity { get; }

    /// <summary>The host's settings (a protocol reads its own section, e.g. <see cref="P2PHostOptions.Noise"/>).</summary>
    public P2PHostOptions Options { get; }

    /// <summary>The protocol ids of the host's stream muxers, in preference order: a security protocol that agrees on a
    /// muxer inside its handshake must agree on one of these.</summary>
    public IReadOnlyList<string> Muxers { get; }

    /// <summary>Where logs go.</summary>
    public ILoggerFactory LoggerFactory { get; }

    /// <summary>The host's clock.</summary>
    public TimeProvider TimeProvider { get; }
}
