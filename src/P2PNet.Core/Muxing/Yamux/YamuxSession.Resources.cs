using P2PNet.Logging;
using P2PNet.Resources;
using P2PNet.Resources.Internal;

namespace P2PNet.Muxing.Yamux;

// The session's hooks into the host's resource manager: a stream's buffers are reserved before it opens, and a receive
// window's growth before the window grows. Without a resource budget (a session used on its own) every hook allows.
internal sealed partial class YamuxSession
{
    /// <summary>The connection's budget; set by the host before <see cref="Start"/>, or none.</summary>
    public ConnectionResources? Resources { get; set; }

    /// <summary>Bounds log lines a peer can trigger at will (refused streams, protocol violations): the host's, or a shared one.</summary>
    internal LogRateLimiter LogLimiter => Resources?.LogLimiter ?? LogRateLimiter.Shared;

    /// <summary>Buffer memory a stream reserves when it opens: its initial receive window and its send buffer.</summary>
    internal long StreamReservation => (long)Options.InitialWindowSize + Options.StreamSendBufferSize;

    /// <summary>Takes a stream slot and the stream's buffers from the budget; may be called under <see cref="_sync"/>.</summary>
    private bool TryReserveStream(bool outbound, out ResourceLimitExceededException? refusal)
    {
        refusal = null;
        return Resources?.TryOpenStream(outbound, StreamReservation, out refusal) ?? true;
    }

    /// <summary>Gives back what a stream held, once (the stream remembers whether it did).</summary>
    private void ReleaseStream(YamuxStream stream)
    {
        if (Resources is { } resources && stream.TakeReservation() is { } held)
        {
            resources.CloseStream(stream.IsOutbound, held.Memory, held.Protocol);
        }
    }

    /// <summary>Growth of a receive window, reserved from the budget before the window grows.</summary>
    private bool TryReserveGrowthFromBudget(long bytes) => Resources?.TryReserveMemory(bytes) ?? true;

    /// <summary>
    /// Counts an open stream in <paramref name="protocol"/>'s budget once it is negotiated.
    /// </summary>
    /// <exception cref="ResourceLimitExceededException">The protocol's budget is full; reset the stream.</exception>
    public void AttachProtocol(MuxedStream stream, string protocol)
    {
        if (Resources is not { } resources || stream is not YamuxStream yamux)
        {
            return;
        }

        if (!resources.TryAddProtocol(protocol, yamux.IsOutbound, out ResourceLimitExceededException? refusal))
        {
            throw refusal!;
        }

        if (!yamux.TryAttachProtocol(protocol))
        {
            resources.RemoveProtocol(protocol, yamux.IsOutbound); // closed meanwhile: its release has run already
        }
    }
}
