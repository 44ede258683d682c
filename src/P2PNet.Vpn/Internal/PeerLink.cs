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
/// accepts it. Either way both directions share the stream.
/// </summary>
internal sealed class PeerLink : IAsyncDisposable
{
    // Flush at least this often while a backlog drains, so one busy peer cannot hold a huge unflushed buffer.
    private const int MaxBatchBytes = 256 * 1024;

    // How many times a non-empty batch waits for more packets before it is flushed.
    private const int CoalescingPasses = 4;

    private readonly VpnNetwork _owner;
    private readonly Channel<OutboundPacket> _queue;
    private readonly Channel<Attachment> _inbound = Channel.CreateBounded<Attachment>(new BoundedChannelOptions(4) { FullMode = BoundedChannelFullMode.DropOldest });
    private readonly CancellationTokenSource _stop = new();
    private readonly ILogger _logger;
    private readonly string _peerText;
    private Task _sendLoop = Task.CompletedTask;
    private uint _address;
    private int _connected;
    private long _packetsSent, _bytesSent, _packetsReceived, _bytesReceived;

    public PeerLink(VpnNetwork owner, PeerId peer, uint address, bool dials, ILogger logger)
    {
        _owner = owner;
        Peer = peer;
        _peerText = peer.ToString();
        _address = address;
        Dials = dials;
        _logger = logger;
        _queue = Channel.CreateBounded<OutboundPacket>(new BoundedChannelOptions(owner.Options.PeerQueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: the caller drops and counts
        });
    }

    public PeerId Peer { get; }

    public bool Dials { get; }

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
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>Queues a packet (taking ownership of the pooled buffer); false when the queue is full.</summary>
    public bool TryEnqueue(byte[] buffer, int length) => _queue.Writer.TryWrite(new OutboundPacket(buffer, length));

    /// <summary>Serves an inbound data stream for its lifetime: receives from it, and sends on it when this side accepts.</summary>
    public async Task RunInboundAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
        var attachment = new Attachment(stream, linked.Token);
        if (!Dials)
        {
            _inbound.Writer.TryWrite(attachment);
        }
        VpnLog.LinkUp(_logger, Peer, "inbound");
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
                    stream = await _owner.Host.OpenStreamAsync(Peer, VpnNetwork.IpProtocolId, stop).ConfigureAwait(false);
                }
#pragma warning disable CA1031 // any dial failure means: wait and redial
                catch (Exception e) when (!stop.IsCancellationRequested)
#pragma warning restore CA1031
                {
                    VpnLog.LinkLost(_logger, Peer, e.Message, delay.TotalMilliseconds);
                    if (!await DelayAsync(delay, stop).ConfigureAwait(false))
                    {
                        return;
                    }
                    delay = Next(delay);
                    continue;
                }
                delay = _owner.Options.RedialInitialDelay;
                owned = CancellationTokenSource.CreateLinkedTokenSource(stop);
                attachment = new Attachment(stream, owned.Token);
                VpnLog.LinkUp(_logger, Peer, "outbound");
                receive = ReceiveUntilEndAsync(stream, owned);
            }
            else
            {
                try
                {
                    attachment = await _inbound.Reader.ReadAsync(stop).ConfigureAwait(false);
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

            Interlocked.Increment(ref _connected);
            string reason = "stream ended";
            try
            {
                await PumpAsync(attachment.Stream.Output, attachment.Lifetime).ConfigureAwait(false);
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
                    delay = Next(delay);
                }
            }
        }
    }

    private TimeSpan Next(TimeSpan delay) =>
        TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _owner.Options.RedialMaxDelay.Ticks));

    private async Task<bool> DelayAsync(TimeSpan delay, CancellationToken stop)
    {
        try
        {
            await Task.Delay(delay, _owner.TimeProvider, stop).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
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

    /// <summary>Writes queued packets, many per flush: one flush per drained batch.</summary>
    private async Task PumpAsync(PipeWriter output, CancellationToken cancellationToken)
    {
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            long packets = 0, bytes = 0;
            for (int pass = 0; pass < CoalescingPasses && bytes < MaxBatchBytes; pass++)
            {
                if (pass > 0)
                {
                    // A flush costs a Yamux frame, a Noise seal and a send: while packets keep arriving (a TCP window
                    // in flight), give the device loop a moment to queue more so one flush carries many.
                    await Task.Yield();
                }
                long before = packets;
                while (bytes < MaxBatchBytes && reader.TryRead(out var packet))
                {
                    try
                    {
                        PacketFraming.Write(output, packet.Buffer.AsSpan(0, packet.Length));
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(packet.Buffer);
                    }
                    packets++;
                    bytes += packet.Length;
                }
                if (packets == before)
                {
                    break; // nothing more arrived: send now (a lone ping costs one yield, microseconds)
                }
            }
            var flushed = await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref _packetsSent, packets);
            Interlocked.Add(ref _bytesSent, bytes);
            _owner.Metrics.Sent(_peerText, packets, bytes);
            if (flushed.IsCompleted || flushed.IsCanceled)
            {
                throw new IOException("The data stream was closed by the peer.");
            }
        }
    }

    /// <summary>Parses framed packets however the stream splits them, checks each one, and delivers it to the device.</summary>
    private async Task ReceiveAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        var input = stream.Input;
        byte[]? scratch = null;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
                var buffer = result.Buffer;
                long packets = 0, bytes = 0;
                while (PacketFraming.TryRead(ref buffer, out var framed))
                {
                    ReadOnlyMemory<byte> packet;
                    if (framed.IsSingleSegment)
                    {
                        packet = framed.First;
                    }
                    else
                    {
                        scratch ??= ArrayPool<byte>.Shared.Rent(PacketFraming.MaxPacketSize);
                        framed.CopyTo(scratch);
                        packet = scratch.AsMemory(0, (int)framed.Length);
                    }
                    if (Accept(packet.Span))
                    {
                        await _owner.Device.WritePacketAsync(packet, cancellationToken).ConfigureAwait(false);
                        packets++;
                        bytes += packet.Length;
                    }
                }
                input.AdvanceTo(buffer.Start, buffer.End);
                if (packets > 0)
                {
                    Interlocked.Add(ref _packetsReceived, packets);
                    Interlocked.Add(ref _bytesReceived, bytes);
                    _owner.Metrics.Received(_peerText, packets, bytes);
                }
                if (result.IsCompleted || result.IsCanceled)
                {
                    return;
                }
            }
        }
        finally
        {
            if (scratch is not null)
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }
        }
    }

    private bool Accept(ReadOnlySpan<byte> packet)
    {
        if (!IPv4Header.TryRead(packet, out uint source, out uint destination))
        {
            _owner.Metrics.Dropped(VpnDropReason.Malformed);
            return false;
        }
        if (source != Address)
        {
            _owner.Metrics.Dropped(VpnDropReason.Spoofed);
            return false;
        }
        if (destination != _owner.LocalAddressValue)
        {
            _owner.Metrics.Dropped(VpnDropReason.Unroutable);
            return false;
        }
        return true;
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
            ArrayPool<byte>.Shared.Return(packet.Buffer);
        }
        _stop.Dispose();
    }

    private readonly record struct OutboundPacket(byte[] Buffer, int Length);

    private sealed record Attachment(P2PStream Stream, CancellationToken Lifetime);
}
