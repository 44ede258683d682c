using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using P2PNet.Host;
using P2PNet.Peers;

namespace P2PNet.Vpn.Internal;

/// <summary>
/// The data plane towards one member: a bounded packet queue, and the single long-lived /p2pnet/vpn/ip/1.0.0 stream of
/// the pair. The member with the lower peer id opens the stream (and redials with backoff when it is lost); the other
/// accepts it. Either way both directions share the stream. The dialer offers /p2pnet/vpn/ip/2.0.0 (super-packets with
/// their offload state) before /p2pnet/vpn/ip/1.0.0 (finished packets, for peers from before 2.0.0); the stream's
/// protocol decides the framing in both directions. Sending is in <c>PeerLink.Send.cs</c>, receiving in <c>PeerLink.Receive.cs</c>.
/// </summary>
internal sealed partial class PeerLink : IAsyncDisposable
{
    private readonly VpnEndpoint _owner;
    private readonly Channel<OutboundPacket> _queue;
    private readonly Channel<Attachment> _inbound = Channel.CreateBounded<Attachment>(new BoundedChannelOptions(4) { FullMode = BoundedChannelFullMode.DropOldest });
    private readonly CancellationTokenSource _stop = new();
    private readonly ILogger _logger;
    private Task _sendLoop = Task.CompletedTask;
    private CancellationTokenSource? _backoff; // the current redial wait, if any; RedialNow cuts it short
    private int _backoffRestarted; // set by RedialNow: the next wait starts again from RedialInitialDelay
    private uint _address;
    private int _connected;
    private string? _protocol;

    // How long an accepted 1.0.0 stream waits for the dialer's second negotiation (AwaitOffloadSuccessorAsync).
    private static readonly TimeSpan LegacyStreamGrace = TimeSpan.FromMilliseconds(500);
    private long _packetsSent, _bytesSent, _packetsReceived, _bytesReceived;

    // Once per process, at the first link: the queue's code over OutboundPacket (a struct, so no ReadyToRun image holds
    // it) is compiled here, by one packet through a throwaway queue, not by the first packet after a join (docs/vpn.md,
    // "Latency at human rates").
    static PeerLink()
    {
        var warm = Channel.CreateBounded<OutboundPacket>(new BoundedChannelOptions(1) { SingleReader = true, AllowSynchronousContinuations = true });
        warm.Writer.TryWrite(new OutboundPacket([], 0, default));
        warm.Reader.TryRead(out _);
    }

    public PeerLink(VpnEndpoint owner, PeerId peer, uint address, bool dials, ILogger logger)
    {
        _owner = owner;
        Peer = peer;
        _address = address;
        Dials = dials;
        _logger = logger;
        _queue = Channel.CreateBounded<OutboundPacket>(new BoundedChannelOptions(owner.Options.PeerQueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: the caller drops and counts
            // The pump resumes on the device loop's thread when a packet arrives to an idle link: a lone packet (a
            // ping, a keystroke) then goes from the TUN read to the socket without a thread-pool dispatch. A burst
            // moves the pump to the pool at its first coalescing yield (PumpAsync), so the device loop is not held.
            AllowSynchronousContinuations = true,
        });
    }

    public PeerId Peer { get; }

    public bool Dials { get; }

    /// <summary>The protocol of the stream the link sends on now or last sent on (null before the first).</summary>
    public string? Protocol => Volatile.Read(ref _protocol);

    public uint Address
    {
        get => Volatile.Read(ref _address);
        set => Volatile.Write(ref _address, value);
    }

    public VpnPeerStatistics Statistics => new(Interlocked.Read(ref _packetsSent), Interlocked.Read(ref _bytesSent),
        Interlocked.Read(ref _packetsReceived), Interlocked.Read(ref _bytesReceived), Volatile.Read(ref _connected) > 0);

    public void Start() => _sendLoop = RunAsync(_stop.Token);

    private async Task RunAsync(CancellationToken stop)
    {
        try
        {
            await SendLoopAsync(stop).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // the loop belongs to DisposeAsync, which must not throw because a peer went away
        catch (Exception e)
#pragma warning restore CA1031
        {
            // During shutdown anything the peer does (reset the stream, close the connection) is expected; otherwise the
            // link stops carrying traffic until the next table, and says why.
            if (!stop.IsCancellationRequested)
            {
                VpnLog.LinkFailed(_logger, Peer, e.Message);
            }
        }
    }

    /// <summary>Serves an inbound data stream for its lifetime: receives from it, and sends on it when this side accepts.</summary>
    public async Task RunInboundAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
        var attachment = new Attachment(stream, linked.Token);
        // Told before the sender takes the stream, as on the dialing side: once the link reports Connected, the
        // coordinator has already reacted to it coming up (pushed a missed table).
        VpnLog.LinkUp(_logger, Peer, "inbound", stream.Protocol);
        _owner.OnLinkUp(Peer, stream.Connection);
        if (!Dials)
        {
            _inbound.Writer.TryWrite(attachment);
        }
        try
        {
            await ReceiveAsync(stream, linked.Token).ConfigureAwait(false);
        }
        finally
        {
            // Wake the sender so it stops using this stream.
            await linked.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A peer that took /p2pnet/vpn/ip/1.0.0 is asked once more, on a second stream: one that has just joined serves the
    /// data protocols only from the moment its join's answer (which carries the VPN id) arrives, and the coordinator,
    /// or a member told of the join, dials it at about that moment. A proposal of 2.0.0 that arrived just before the
    /// handlers and one of 1.0.0 just after settled on finished packets for the link's lifetime: every super-packet
    /// segmented by the sender and written to the receiver's device one segment at a time, a sixth of the throughput
    /// (docs/vpn.md, "A link that settled on finished packets"). The second negotiation finds both handlers there and
    /// takes 2.0.0; a peer from before 2.0.0 takes 1.0.0 again, and the first stream stays.
    /// </summary>
    private async ValueTask<P2PStream> PreferOffloadAsync(P2PStream stream, CancellationToken stop)
    {
        if (stream.Protocol != _owner.IpProtocol || _owner.DataProtocols.Count < 2)
        {
            return stream;
        }
        P2PStream again;
        try
        {
            again = await _owner.OpenDataStream(Peer, _owner.DataProtocols, stop).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // the first stream works: keep it whatever the second attempt ran into
        catch (Exception) when (!stop.IsCancellationRequested)
#pragma warning restore CA1031
        {
            return stream;
        }
        catch
        {
            stream.Abort(); // shutting down
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        P2PStream kept = again.Protocol == _owner.OffloadIpProtocol ? again : stream;
        P2PStream dropped = ReferenceEquals(kept, again) ? stream : again;
        dropped.Abort();
        await dropped.DisposeAsync().ConfigureAwait(false);
        return kept;
    }

    /// <summary>
    /// The accepting side of <see cref="PreferOffloadAsync"/>: a /p2pnet/vpn/ip/1.0.0 stream from a dialer that may yet ask
    /// again on 2.0.0 is not sent on until that second stream comes (it is taken instead, and the dialer closes the
    /// first) or <see cref="LegacyStreamGrace"/> passes (a peer from before 2.0.0) or the first stream ends. So no packet
    /// goes on a stream that is about to be closed.
    /// </summary>
    private async ValueTask<Attachment> AwaitOffloadSuccessorAsync(Attachment attachment, CancellationToken stop)
    {
        if (attachment.Stream.Protocol != _owner.IpProtocol || _owner.DataProtocols.Count < 2)
        {
            return attachment;
        }
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(stop, attachment.Lifetime);
        wait.CancelAfter(LegacyStreamGrace);
        try
        {
            return await _inbound.Reader.ReadAsync(wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            return attachment;
        }
    }

    private async Task SendLoopAsync(CancellationToken stop)
    {
        var delay = _owner.Options.RedialInitialDelay;
        while (!stop.IsCancellationRequested)
        {
            Attachment attachment;
            Task receive = Task.CompletedTask;
            CancellationTokenSource? owned = null;
            if (Dials)
            {
                P2PStream stream;
                try
                {
                    stream = await _owner.OpenDataStream(Peer, _owner.DataProtocols, stop).ConfigureAwait(false);
                    stream = await PreferOffloadAsync(stream, stop).ConfigureAwait(false);
                }
#pragma warning disable CA1031 // any dial failure means: wait and redial
                catch (Exception e)
#pragma warning restore CA1031
                {
                    if (stop.IsCancellationRequested)
                    {
                        return; // shutting down: a reset or closed connection from the peer is the expected end
                    }
                    VpnLog.LinkLost(_logger, Peer, e.Message, delay.TotalMilliseconds);
                    if (!await DelayAsync(delay, stop).ConfigureAwait(false))
                    {
                        return;
                    }
                    delay = NextDelay(delay);
                    continue;
                }
                delay = _owner.Options.RedialInitialDelay;
                owned = CancellationTokenSource.CreateLinkedTokenSource(stop);
                attachment = new Attachment(stream, owned.Token);
                VpnLog.LinkUp(_logger, Peer, "outbound", stream.Protocol);
                _owner.OnLinkUp(Peer, stream.Connection);
                receive = ReceiveUntilEndAsync(stream, owned);
            }
            else
            {
                try
                {
                    attachment = await _inbound.Reader.ReadAsync(stop).ConfigureAwait(false);
                    attachment = await AwaitOffloadSuccessorAsync(attachment, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                if (attachment.Lifetime.IsCancellationRequested)
                {
                    continue;
                }
            }

            Volatile.Write(ref _protocol, attachment.Stream.Protocol);
            Interlocked.Increment(ref _connected);
            string reason = "stream ended";
            try
            {
                await PumpAsync(attachment.Stream, attachment.Lifetime).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
#pragma warning disable CA1031 // a broken stream is replaced, never fatal
            catch (Exception e)
#pragma warning restore CA1031
            {
                reason = e.Message;
            }
            Interlocked.Decrement(ref _connected);
            attachment.Stream.Abort();
            await receive.ConfigureAwait(false);
            if (owned is not null)
            {
                await attachment.Stream.DisposeAsync().ConfigureAwait(false);
                owned.Dispose();
                if (!stop.IsCancellationRequested)
                {
                    VpnLog.LinkLost(_logger, Peer, reason, delay.TotalMilliseconds);
                    if (!await DelayAsync(delay, stop).ConfigureAwait(false))
                    {
                        return;
                    }
                    delay = NextDelay(delay);
                }
            }
        }
    }

    /// <summary>The wait before the next redial: doubled, or back to the first step when <see cref="RedialNow"/> restarted
    /// the backoff (a member that has just joined may not serve its data protocols yet when the first redial reaches it).</summary>
    private TimeSpan NextDelay(TimeSpan delay) =>
        Interlocked.Exchange(ref _backoffRestarted, 0) != 0
            ? _owner.Options.RedialInitialDelay
            : TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _owner.Options.RedialMaxDelay.Ticks));

    /// <summary>
    /// Ends a redial wait now, if the dialing side is in one, and restarts the backoff. Called when a new table arrives: it is news about the peer
    /// (it just joined, or its addresses changed), so the backoff from the failures before it no longer applies. Without
    /// this, a coordinator whose allow list names a member dials it at start, fails, and is deep in its backoff (up to
    /// <see cref="VpnOptions.RedialMaxDelay"/>) when the member joins: the member's first packets wait for the timer.
    /// </summary>
    public void RedialNow()
    {
        Volatile.Write(ref _backoffRestarted, 1);
        try
        {
            Volatile.Read(ref _backoff)?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The wait just ended by itself.
        }
    }

    /// <returns><see langword="false"/> when the link is stopping; <see langword="true"/> after the delay, or sooner
    /// through <see cref="RedialNow"/>.</returns>
    private async Task<bool> DelayAsync(TimeSpan delay, CancellationToken stop)
    {
        using var backoff = CancellationTokenSource.CreateLinkedTokenSource(stop);
        Volatile.Write(ref _backoff, backoff);
        try
        {
            await Task.Delay(delay, _owner.TimeProvider, backoff.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return !stop.IsCancellationRequested;
        }
        finally
        {
            Interlocked.CompareExchange(ref _backoff, null, backoff);
        }
    }

    private async Task ReceiveUntilEndAsync(P2PStream stream, CancellationTokenSource lifetime)
    {
        try
        {
            await ReceiveAsync(stream, lifetime.Token).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // the end of the stream, whatever its cause, only ends this attachment
        catch (Exception)
#pragma warning restore CA1031
        {
        }
        finally
        {
            await lifetime.CancelAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _inbound.Writer.TryComplete();
        while (_inbound.Reader.TryRead(out var pending))
        {
            pending.Stream.Abort();
        }
        await _sendLoop.ConfigureAwait(false);
        _queue.Writer.TryComplete();
        while (_queue.Reader.TryRead(out var packet))
        {
            Release(packet);
        }
        _stop.Dispose();
    }

    private readonly record struct OutboundPacket(byte[] Buffer, int Length, PacketOffload Offload);

    private sealed record Attachment(P2PStream Stream, CancellationToken Lifetime);
}
