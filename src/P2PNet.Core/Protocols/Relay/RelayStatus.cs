namespace P2PNet.Protocols.Relay;

/// <summary>The status codes of circuit relay v2 (libp2p/specs relay/circuit-v2.md, "Status codes").</summary>
public enum RelayStatus
{
    /// <summary>No status was given (a malformed answer).</summary>
    Unused = 0,

    /// <summary>Success.</summary>
    Ok = 100,

    /// <summary>The relay refused the reservation (e.g. the request came over a relayed connection).</summary>
    ReservationRefused = 200,

    /// <summary>A limit of the relay (reservations per IP or in total, circuits per peer or in total) is reached.</summary>
    ResourceLimitExceeded = 201,

    /// <summary>Not allowed (e.g. the destination refuses relayed connections).</summary>
    PermissionDenied = 202,

    /// <summary>The relay could not reach the destination.</summary>
    ConnectionFailed = 203,

    /// <summary>The destination has no reservation on the relay.</summary>
    NoReservation = 204,

    /// <summary>The message could not be parsed.</summary>
    MalformedMessage = 400,

    /// <summary>The message was of the wrong type for this step.</summary>
    UnexpectedMessage = 401,
}
