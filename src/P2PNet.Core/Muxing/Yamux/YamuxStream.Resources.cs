namespace P2PNet.Muxing.Yamux;

// What the stream holds in the host's resource budget (see YamuxSession.Resources.cs): released exactly once.
internal sealed partial class YamuxStream
{
    private bool _reservationReleased;
    private string? _reservedProtocol;

    /// <summary>Remembers the protocol counted for this stream; <see langword="false"/> if the stream was released already.</summary>
    internal bool TryAttachProtocol(string protocol)
    {
        lock (_sync)
        {
            if (_reservationReleased)
            {
                return false;
            }

            _reservedProtocol = protocol;
            return true;
        }
    }

    /// <summary>
    /// The stream left the session: what it reserved (buffers: the initial reservation and every window growth since;
    /// its protocol), once. No window growth happens afterwards (the stream is closed or reset).
    /// </summary>
    internal (long Memory, string? Protocol)? TakeReservation()
    {
        lock (_sync)
        {
            if (_reservationReleased)
            {
                return null;
            }

            _reservationReleased = true;
            return (_session.StreamReservation + _receiveWindow - _session.Options.InitialWindowSize, _reservedProtocol);
        }
    }
}
