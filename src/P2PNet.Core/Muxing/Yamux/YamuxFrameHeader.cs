namespace P2PNet.Muxing.Yamux;

/// <summary>Yamux frame types (spec: "Type Field").</summary>
internal enum YamuxFrameType : byte
{
    /// <summary>Stream data; the length is the payload size.</summary>
    Data = 0,

    /// <summary>Grants the peer more send window; the length is the delta.</summary>
    WindowUpdate = 1,

    /// <summary>Session ping; the length is an opaque value echoed back.</summary>
    Ping = 2,

    /// <summary>Session termination; the length is a <see cref="YamuxGoAwayCode"/>.</summary>
    GoAway = 3,
}

/// <summary>Yamux frame flags (spec: "Flag Field").</summary>
[Flags]
internal enum YamuxFrameFlags : ushort
{
    None = 0,

    /// <summary>Opens a stream; on a ping, marks the request.</summary>
    Syn = 1,

    /// <summary>Acknowledges a stream; on a ping, marks the response.</summary>
    Ack = 2,

    /// <summary>Half-closes a stream: the sender sends no more data.</summary>
    Fin = 4,

    /// <summary>Resets a stream.</summary>
    Rst = 8,
}

/// <summary>GoAway error codes (spec: "Session termination").</summary>
internal enum YamuxGoAwayCode : uint
{
    Normal = 0,
    ProtocolError = 1,
    InternalError = 2,
}

/// <summary>
/// A parsed 12-byte Yamux frame header: version (always 0), type, flags, stream id and length, big-endian on the wire.
/// </summary>
/// <param name="Type">The frame type.</param>
/// <param name="Flags">The frame flags; unknown bits are kept as received.</param>
/// <param name="StreamId">The stream, or 0 for the session (Ping, GoAway).</param>
/// <param name="Length">Payload length (Data), window delta (WindowUpdate), opaque value (Ping) or error code (GoAway).</param>
internal readonly record struct YamuxFrameHeader(YamuxFrameType Type, YamuxFrameFlags Flags, uint StreamId, uint Length)
{
    public bool HasFlag(YamuxFrameFlags flag) => (Flags & flag) != 0;

    public override string ToString() => $"{Type} flags={Flags} stream={StreamId} length={Length}";
}
