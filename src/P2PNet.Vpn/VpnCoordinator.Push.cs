using Google.Protobuf;
using P2PNet.Host;
using P2PNet.Host.Internal;
using P2PNet.IO;
using P2PNet.Peers;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.Protos;

namespace P2PNet.Vpn;

/// <summary>
/// The coordinator's table distribution: every change is pushed to the members and acknowledged (<c>TableAck</c>); a
/// push that fails is retried with bounded backoff (<see cref="VpnOptions.PushRetryInitialDelay"/> doubling up to
/// <see cref="VpnOptions.PushRetryMaxDelay"/>) until the member holds the current table or is removed, and a member
/// whose data stream comes back up is pushed the current table if it lacks it. So no member keeps routing to a removed
/// peer, whose address may already belong to someone else.
/// </summary>
public sealed partial class VpnCoordinator
{
    // The push retry loops (Core's one task tracker), awaited by StopAsync.
    private readonly TaskTracker _retryLoops = new();

    // Guards the push state below; never held across an await (the retry loops run without ControlLock).
    private readonly Lock _pushLock = new();

    // Per member: the highest version of this epoch it holds, or that it refused for good (retrying cannot help).
    private readonly Dictionary<PeerId, ulong> _settled = [];

    // Members that take part (joined, acknowledged a table, or have a data stream up): only these get retries.
    private readonly HashSet<PeerId> _pushTargets = [];

    // Members with a retry loop running, each with the signal that ends its current wait early: its data stream came up,
    // on the connection given.
    private readonly Dictionary<PeerId, TaskCompletionSource<P2PConnection>> _retrying = [];

    private PublishedTable? _published;

    /// <summary>Waits for the push retry loops; <see cref="VpnEndpoint.Stopping"/> is cancelled, so they end.</summary>
    private protected override async Task StopControlPlaneAsync()
    {
        Task loops;
        lock (_pushLock)
        {
            // Under the lock: a loop registered before the cancellation is tracked now (EnsureRetry).
            loops = _retryLoops.WhenAll();
        }
        await loops.ConfigureAwait(false);
    }

    /// <summary>Bumps the version, signs, applies locally and pushes to every participating member but
    /// <paramref name="except"/> (plus <paramref name="extra"/>, a member just removed, which gets one attempt). Waits
    /// for the first attempt of each push; failed ones are retried in the background. Holds <see cref="VpnEndpoint.ControlLock"/>.</summary>
    private async Task<VpnRoutingTable> PublishAsync(PeerId? except, PeerId? extra, CancellationToken cancellationToken)
    {
        _members[Host.PeerId] = _members[Host.PeerId] with { Addresses = OwnAddresses() };
        var members = _members.OrderBy(m => AddressPool.ToUInt32(m.Value.Address))
            .Select(m => new VpnMemberInfo(m.Key, m.Value.Address, m.Value.Addresses)).ToList();
        var table = new VpnRoutingTable(++_version, Options.Network, Options.Mtu, Host.PeerId, members)
        {
            Epoch = _epoch,
            VpnId = VpnId!,
            Gateway = Options.Gateway,
        };
        await ApplyTableAsync(table, cancellationToken).ConfigureAwait(false);
        var signed = TableCodec.Sign(table, _signingKey!);
        var published = new PublishedTable(table, signed, new ControlMessage { Table = signed }.ToByteArray());
        var targets = new List<PeerId>();
        lock (_pushLock)
        {
            _published = published;
            foreach (var peer in _settled.Keys.Where(p => !_members.ContainsKey(p)).ToList())
            {
                _settled.Remove(peer);
            }
            _pushTargets.RemoveWhere(p => !_members.ContainsKey(p));
            foreach (var (peer, member) in _members)
            {
                if (peer == Host.PeerId)
                {
                    continue;
                }
                if (member.Joined)
                {
                    _pushTargets.Add(peer);
                }
                // A member not known to have joined is pushed while it is connected: a restarted coordinator knows its
                // members only from StartAsync, and they are still there.
                if (peer != except && (_pushTargets.Contains(peer) || Host.GetConnections(peer).Count > 0))
                {
                    targets.Add(peer);
                }
            }
        }
        if (extra is not null)
        {
            targets.Add(extra);
        }
        bool[] delivered = await Task.WhenAll(targets.Select(t => PushAsync(t, published, cancellationToken))).ConfigureAwait(false);
        for (int i = 0; i < targets.Count; i++)
        {
            if (!delivered[i] && targets[i] != extra)
            {
                EnsureRetry(targets[i]);
            }
        }
        return table;
    }

    /// <summary>A data stream to <paramref name="peer"/> came up on <paramref name="connection"/>: if it is a member that
    /// lacks the current table (it reconnected after missing pushes, or never joined this run of the coordinator), push
    /// it over that connection.</summary>
    /// <remarks>Over that connection, not any connection to the peer: when the member redials, the connection it dropped
    /// may not be known to be closing here yet, and a push opened on it would fail and wait out the whole backoff.</remarks>
    internal override void OnLinkUp(PeerId peer, P2PConnection connection)
    {
        lock (_pushLock)
        {
            if (_published is not { } current || current.Table.Find(peer) is null || peer == Host.PeerId)
            {
                return;
            }
            _pushTargets.Add(peer);
            if (_settled.TryGetValue(peer, out ulong version) && version >= current.Table.Version)
            {
                return;
            }
            if (_retrying.TryGetValue(peer, out var wake))
            {
                wake.TrySetResult(connection); // the member is back: push now rather than after the backoff
                return;
            }
        }
        EnsureRetry(peer, connection);
    }

    private void MarkDelivered(PeerId peer, VpnRoutingTable table)
    {
        lock (_pushLock)
        {
            _pushTargets.Add(peer);
            _settled[peer] = Math.Max(_settled.GetValueOrDefault(peer), table.Version);
        }
    }

    /// <summary>Starts the retry loop of <paramref name="peer"/> unless one runs or the network is stopping; with
    /// <paramref name="immediatelyOver"/>, its first push goes at once over that connection.</summary>
    private void EnsureRetry(PeerId peer, P2PConnection? immediatelyOver = null)
    {
        lock (_pushLock)
        {
            // Checked and tracked under the lock: StopAsync passes through it after cancelling, so every loop started
            // before is in _retryLoops when it collects them.
            if (Stopping.IsCancellationRequested || !_pushTargets.Contains(peer)
                || !_retrying.TryAdd(peer, new TaskCompletionSource<P2PConnection>(TaskCreationOptions.RunContinuationsAsynchronously)))
            {
                return;
            }
            _retryLoops.Track(RetryPushesAsync(peer, immediatelyOver, Stopping.Token));
        }
    }

    private async Task RetryPushesAsync(PeerId peer, P2PConnection? immediatelyOver, CancellationToken stopping)
    {
        await Task.Yield(); // run outside the caller's lock
        try
        {
            await RetryPushesCoreAsync(peer, immediatelyOver, stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // StopAsync awaits this loop and must not throw because a push was in flight.
        }
    }

    private async Task RetryPushesCoreAsync(PeerId peer, P2PConnection? over, CancellationToken stopping)
    {
        var delay = Options.PushRetryInitialDelay;
        while (true)
        {
            if (over is null)
            {
                TaskCompletionSource<P2PConnection> wake;
                lock (_pushLock)
                {
                    wake = _retrying[peer];
                }
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                var delayed = Task.Delay(delay, TimeProvider, wait.Token);
                await Task.WhenAny(delayed, wake.Task).ConfigureAwait(false);
                await wait.CancelAsync().ConfigureAwait(false); // ends the timer when woken early
                stopping.ThrowIfCancellationRequested();
                over = wake.Task.IsCompletedSuccessfully ? wake.Task.Result : null;
            }
            PublishedTable published;
            lock (_pushLock)
            {
                published = _published!;
                if (_retrying[peer].Task.IsCompleted)
                {
                    _retrying[peer] = new TaskCompletionSource<P2PConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
                }
                if (stopping.IsCancellationRequested || !_pushTargets.Contains(peer)
                    || (_settled.TryGetValue(peer, out ulong version) && version >= published.Table.Version))
                {
                    // Decided and deregistered in one step, so a failure after this starts a new loop.
                    _retrying.Remove(peer);
                    return;
                }
            }
            delay = await PushAsync(peer, published, stopping, over).ConfigureAwait(false)
                ? Options.PushRetryInitialDelay
                : TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, Options.PushRetryMaxDelay.Ticks));
            over = null;
        }
    }

    /// <summary>One push: the signed table out, the member's <c>TableAck</c> back; over <paramref name="over"/> when given,
    /// else over any connection to the member.</summary>
    /// <returns>True when the member answered (it holds this table or a newer one, or refused it for good); false when
    /// the push failed and is worth retrying.</returns>
    private async Task<bool> PushAsync(PeerId peer, PublishedTable published, CancellationToken cancellationToken, P2PConnection? over = null)
    {
        var table = published.Table;
        TableAck ack;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Options.ControlTimeout);
            var stream = over is not null
                ? await over.OpenStreamAsync(ControlProtocol, timeout.Token).ConfigureAwait(false)
                : await Host.OpenStreamAsync(peer, ControlProtocol, timeout.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                await LengthPrefixed.WriteAsync(stream.Output, published.Message, timeout.Token).ConfigureAwait(false);
                await stream.CompleteWritesAsync(timeout.Token).ConfigureAwait(false);
                byte[] bytes = await LengthPrefixed.ReadAsync(stream.Input, Options.MaxControlMessageSize, timeout.Token).ConfigureAwait(false)
                    ?? throw new IOException("The member closed the control stream without acknowledging the table.");
                var reply = ControlCodec.Parse(bytes);
                ack = reply.BodyCase == ControlMessage.BodyOneofCase.TableAck
                    ? reply.TableAck
                    : throw new WireFormatException($"The member answered a table with {reply.BodyCase} instead of an acknowledgement.");
            }
        }
#pragma warning disable CA1031 // an unreachable member is retried; the others must not wait on it
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
#pragma warning restore CA1031
        {
            // While stopping, whatever the member does to the stream (reset, close) is expected and not worth a warning.
            if (!cancellationToken.IsCancellationRequested)
            {
                VpnLog.PushFailed(Logger, peer, e.Message);
            }
            return false;
        }
        bool holds = ack.Epoch == table.Epoch && ack.Version >= table.Version;
        if (!holds)
        {
            // Refused for good (an inconsistent table, a stopped member, or one holding a later run's table): retrying
            // this table cannot help; the next change is pushed again.
            VpnLog.PushRefused(Logger, peer, table.Version, ack.Reason);
        }
        lock (_pushLock)
        {
            if (_published is { } current && current.Table.Epoch == table.Epoch && current.Table.Find(peer) is not null)
            {
                _pushTargets.Add(peer);
                _settled[peer] = Math.Max(_settled.GetValueOrDefault(peer), holds ? ack.Version : table.Version);
            }
        }
        return true;
    }

    /// <summary>The current table with its signed form and the control message that carries it.</summary>
    private sealed record PublishedTable(VpnRoutingTable Table, SignedRoutingTable Signed, byte[] Message);
}
