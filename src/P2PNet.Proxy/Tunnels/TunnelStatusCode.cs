namespace P2PNet.Proxy.Tunnels;

/// <summary>Why the tunnel server refused or ended a registration (the wire's <c>Status</c>).</summary>
public enum TunnelStatusCode
{
    /// <summary>Accepted.</summary>
    Ok = 0,

    /// <summary>The token is unknown or revoked: ask the server's operator for a new one.</summary>
    BadToken = 1,

    /// <summary>The name is in use: another peer holds the device's registration, or a token for the device exists.</summary>
    NameTaken = 2,

    /// <summary>The server's public port range has no free port left.</summary>
    RangeExhausted = 3,

    /// <summary>The request is malformed: bad or duplicate service names, too many services.</summary>
    BadRequest = 4,

    /// <summary>The device's token was revoked while it was registered: it is cut off.</summary>
    Revoked = 5,
}
