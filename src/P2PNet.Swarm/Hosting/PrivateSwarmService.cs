using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PNet.Host;

namespace P2PNet.Swarm.Hosting;

/// <summary>
/// Runs the private swarm of <c>services.AddPrivateSwarm(…)</c> with the application: after the host has started, opens
/// the store, creates or resumes the <see cref="SwarmOwner"/> or <see cref="SwarmMember"/> and (by default) joins; on
/// shutdown disposes it and the store.
/// </summary>
/// <remarks>Registered after the host's own hosted service, so the host listens before the swarm starts. A member whose
/// owner cannot be reached fails the application's start with the key exchange's error.</remarks>
public sealed class PrivateSwarmService : IHostedService, IAsyncDisposable
{
    private readonly P2PHost _host;
    private readonly P2PHostOptions _hostOptions;
    private readonly PrivateSwarmServiceOptions _options;
    private readonly ILoggerFactory? _loggerFactory;
    private readonly TimeProvider? _timeProvider;
    private SwarmStore? _store;

    /// <summary>Creates the service; nothing is opened until <see cref="StartAsync"/>.</summary>
    public PrivateSwarmService(P2PHost host, IOptions<P2PHostOptions> hostOptions, IOptions<PrivateSwarmServiceOptions> options,
        ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(hostOptions);
        ArgumentNullException.ThrowIfNull(options);
        _host = host;
        _hostOptions = hostOptions.Value;
        _options = options.Value;
        _loggerFactory = loggerFactory;
        _timeProvider = timeProvider;
    }

    /// <summary>The owner, from start to stop with <see cref="SwarmRole.Owner"/>.</summary>
    public SwarmOwner? Owner { get; private set; }

    /// <summary>The member, from start to stop with <see cref="SwarmRole.Member"/>.</summary>
    public SwarmMember? Member { get; private set; }

    /// <summary>The swarm's state now, or <see langword="null"/> before the service has started.</summary>
    public SwarmStatus? GetStatus() => Owner?.GetStatus() ?? Member?.GetStatus();

    /// <summary>Whether the node is in the private swarm now.</summary>
    public bool IsJoined => Owner?.IsJoined ?? Member?.IsJoined ?? false;

    /// <inheritdoc/>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var identity = _hostOptions.Identity
            ?? throw new InvalidOperationException("The private swarm signs with the host's identity: register the host with services.AddP2PNet(…).");
        _store = SwarmStore.Open(_options.StorePath!);
        var existing = _store.ReadSwarm();
        if (_options.Role == SwarmRole.Owner)
        {
            Owner = existing is null
                ? SwarmOwner.Create(_host, identity, _store, string.IsNullOrWhiteSpace(_options.SwarmId) ? null : _options.SwarmId,
                    _options.AuthorizedPeers, _options.Bootstrap, _options.Limits, _loggerFactory, _timeProvider)
                : SwarmOwner.Open(_host, identity, _store, _options.Limits, _loggerFactory, _timeProvider);
            if (_options.JoinOnStart)
            {
                await Owner.JoinAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            Member = existing is not null
                ? SwarmMember.Open(_host, identity, _store, _options.Limits, _loggerFactory, _timeProvider)
                : new SwarmMember(_host, identity, new SwarmMembership(_options.SwarmId!, _options.Owner!, [.. _options.OwnerAddresses]),
                    _store, _options.Limits, _loggerFactory, _timeProvider);
            if (_options.JoinOnStart)
            {
                await Member.JoinAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <inheritdoc/>
    public async Task StopAsync(CancellationToken cancellationToken) => await DisposeAsync().ConfigureAwait(false);

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        // Stopped by the host, then disposed by the container: the second call finds nothing left.
        if (Owner is { } owner)
        {
            Owner = null;
            await owner.DisposeAsync().ConfigureAwait(false);
        }
        if (Member is { } member)
        {
            Member = null;
            await member.DisposeAsync().ConfigureAwait(false);
        }
        _store?.Dispose();
        _store = null;
    }
}
