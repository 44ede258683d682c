using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;

namespace P2PNet.Muxing.Yamux;

// Receive direction: window accounting, delivery into the receive pipe, window updates and auto-tuning
// (spec: "Flow Control"). Called by the session's read loop and by the application's reader.
internal sealed partial class YamuxStream
{
    /// <summary>Current receive window size; doubles (up to <see cref="YamuxOptions.MaxWindowSize"/>) on fast links.</summary>
    private long _receiveWindow;

    /// <summary>Bytes the peer may still send before it needs our next window update.</summary>
    private long _receiveCredit;

    /// <summary>Bytes the application consumed that were not yet granted back to the peer.</summary>
    private long _unannounced;

    /// <summary>Bytes delivered into the receive pipe and not yet consumed by the application.</summary>
    private long _buffered;

    /// <summary>When the last window update was granted (a <see cref="TimeProvider"/> timestamp).</summary>
    private long _windowEpoch;

    /// <summary>Window granted to the peer but not yet written in a WindowUpdate frame.</summary>
    private long _pendingWindowDelta;

    /// <summary>Whether <see cref="TakeWindowGrowth"/> returned this stream's growth to the session's budget.</summary>
    private bool _windowGrowthReleased;

    /// <summary>The current receive window size (for tests and metrics).</summary>
    internal long ReceiveWindow
    {
        get
        {
            lock (_sync)
            {
                return _receiveWindow;
            }
        }
    }

    /// <summary>Bytes received and not yet consumed by the application (for tests and metrics).</summary>
    internal long BufferedBytes
    {
        get
        {
            lock (_sync)
            {
                return _buffered;
            }
        }
    }

    private void InitializeReceiveWindow(int initialWindow)
    {
        // Both sides assume 256 KiB; a larger initial window is announced with the stream's first frame (SYN or ACK).
        _receiveWindow = initialWindow;
        _receiveCredit = initialWindow;
        _pendingWindowDelta = initialWindow - YamuxOptions.DefaultWindowSize;
        _windowEpoch = _session.Time.GetTimestamp();
    }

    /// <summary>
    /// The stream left the session: returns how far its window grew beyond the initial one, for the session's budget, once.
    /// No growth happens afterwards (the stream is closed or reset, so <see cref="GrantLocked"/> grants nothing).
    /// </summary>
    internal long TakeWindowGrowth()
    {
        lock (_sync)
        {
            if (_windowGrowthReleased)
            {
                return 0;
            }

            _windowGrowthReleased = true;
            return _receiveWindow - _session.Options.InitialWindowSize;
        }
    }

    /// <summary>Read loop: a Data frame of <paramref name="length"/> payload bytes arrived; takes it from the window.</summary>
    /// <returns><see langword="false"/> if the peer exceeded the window (a protocol violation); <paramref name="credit"/> is what it had.</returns>
    internal bool TryReserveReceive(uint length, out long credit)
    {
        lock (_sync)
        {
            credit = _receiveCredit;
            if (length > _receiveCredit)
            {
                return false;
            }

            _receiveCredit -= length;
            return true;
        }
    }

    /// <summary>Read loop: a piece of a Data frame's payload, already counted by <see cref="TryReserveReceive"/>.</summary>
    internal void OnData(in ReadOnlySequence<byte> payload)
    {
        bool schedule = false;
        lock (_sync)
        {
            if ((_state & (StreamState.Reset | StreamState.SessionClosed | StreamState.FinReceived)) != 0)
            {
                return; // reset, or data after FIN: dropped
            }

            if ((_state & StreamState.ReadsAbandoned) != 0)
            {
                // Nobody reads: discard, and give the window straight back so the peer can finish.
                schedule = GrantLocked(payload.Length);
            }
            else
            {
                PipeWriter writer = _receivePipe.Writer;
                foreach (ReadOnlyMemory<byte> segment in payload)
                {
                    writer.Write(segment.Span);
                }

                _buffered += payload.Length;

                // The receive pipe never pauses its writer (pauseWriterThreshold 0), so the flush completes synchronously;
                // it only publishes the data and wakes a waiting reader.
                ValueTask<FlushResult> flush = writer.FlushAsync(CancellationToken.None);
                Debug.Assert(flush.IsCompleted, "The receive pipe must never pause the read loop.");
                flush.GetAwaiter().GetResult();
            }
        }

        if (schedule)
        {
            _session.Schedule(this);
        }
    }

    /// <summary>Read loop: the peer half-closed the stream (FIN).</summary>
    internal void OnRemoteFin()
    {
        bool fullyClosed;
        lock (_sync)
        {
            if ((_state & (StreamState.FinReceived | StreamState.Reset | StreamState.SessionClosed)) != 0)
            {
                return;
            }

            _state |= StreamState.FinReceived;
            _receivePipe.Writer.Complete();
            _readsClosed.TrySetResult();
            fullyClosed = (_state & StreamState.FinSent) != 0;
        }

        if (fullyClosed)
        {
            _session.RemoveStream(this);
        }
    }

    /// <summary>The application consumed <paramref name="bytes"/> from <see cref="Input"/>.</summary>
    internal void OnConsumed(long bytes)
    {
        if (bytes <= 0)
        {
            return;
        }

        bool schedule;
        lock (_sync)
        {
            _buffered -= bytes;
            schedule = GrantLocked(bytes);
        }

        if (schedule)
        {
            _session.Schedule(this);
        }
    }

    /// <summary>The application completed <see cref="Input"/>: it reads no more.</summary>
    internal void OnReaderCompleted() => AbandonReads(pendingReadError: null);

    /// <summary>
    /// Stops reading: data still arriving is discarded and its window returned at once, so the peer can finish.
    /// </summary>
    /// <param name="pendingReadError">If set and the peer has not finished, a read still pending fails with it.</param>
    private void AbandonReads(Exception? pendingReadError)
    {
        bool schedule;
        lock (_sync)
        {
            if ((_state & StreamState.ReadsAbandoned) != 0)
            {
                return;
            }

            _state |= StreamState.ReadsAbandoned;
            if (pendingReadError is not null && (_state & (StreamState.FinReceived | StreamState.Reset | StreamState.SessionClosed)) == 0)
            {
                _receivePipe.Writer.Complete(pendingReadError);
            }

            long unread = _buffered;
            _buffered = 0;
            schedule = GrantLocked(unread);
        }

        if (schedule)
        {
            _session.Schedule(this);
        }
    }

    // The round trip the growth test assumes at least. The session's estimate comes from pings on an idle connection;
    // under load the window's real round trip is longer (queues, and the receiving side's own work), so on a fast
    // link (a veth pair, 0.1 ms idle) the test never passed and the window stayed at its initial size, capping a
    // transfer at a few hundred Mbit/s — or not, depending on the one sample taken (docs/vpn.md).
    private static readonly TimeSpan MinGrowthRoundTrip = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// Returns <paramref name="bytes"/> of window to the peer once half the window is consumed, doubling the window when the
    /// previous half was consumed within two round trips (the link, not the reader, is the bottleneck).
    /// </summary>
    /// <returns>Whether a WindowUpdate is now pending and the stream must be scheduled.</returns>
    private bool GrantLocked(long bytes)
    {
        static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

        if (bytes <= 0 || (_state & (StreamState.FinReceived | StreamState.Reset | StreamState.SessionClosed)) != 0)
        {
            return false; // the peer sends nothing more: no update needed
        }

        _unannounced += bytes;
        if (_unannounced < _receiveWindow / 2)
        {
            return false;
        }

        TimeProvider time = _session.Time;
        long now = time.GetTimestamp();
        long growth = 0;
        TimeSpan rtt = _session.RoundTripTime;
        int maxWindow = _session.Options.MaxWindowSize;
        if (rtt > TimeSpan.Zero && _receiveWindow < maxWindow && time.GetElapsedTime(_windowEpoch, now) < Max(rtt, MinGrowthRoundTrip) * 2)
        {
            long grown = Math.Min(_receiveWindow * 2, maxWindow);
            if (_session.TryReserveWindowGrowth(grown - _receiveWindow))
            {
                growth = grown - _receiveWindow;
                _receiveWindow = grown;
                YamuxLog.WindowGrown(_session.Logger, _id, grown);
            }
        }

        _windowEpoch = now;
        long delta = _unannounced + growth;
        _unannounced = 0;
        _receiveCredit += delta;
        _pendingWindowDelta += delta;
        return true;
    }
}
