namespace P2PNet.Swarm;

/// <summary>The owner's answer to a key request (the <c>status</c> field of the response).</summary>
public enum KeyExchangeStatus
{
    /// <summary>The key was sent.</summary>
    Ok = 0,

    /// <summary>The requester is not (or no longer) authorised in this swarm.</summary>
    Unauthorized = 1,

    /// <summary>The request's signature does not verify with the key it carries.</summary>
    BadSignature = 2,

    /// <summary>The request's timestamp is outside the allowed clock skew.</summary>
    Stale = 3,

    /// <summary>The request's nonce was already used within the freshness window.</summary>
    Replayed = 4,

    /// <summary>The request names another swarm or another owner.</summary>
    UnknownSwarm = 5,

    /// <summary>The request cannot be parsed or a field has the wrong length.</summary>
    Malformed = 6,

    /// <summary>The signer is not the peer it claims to be, or not the peer on the other end of the connection.</summary>
    PeerMismatch = 7,

    /// <summary>The owner remembers too many recent requests; retry later.</summary>
    Busy = 8,
}
