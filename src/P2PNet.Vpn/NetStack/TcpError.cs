namespace P2PNet.Vpn.NetStack;

/// <summary>Why a TCP connection failed.</summary>
public enum TcpError
{
    /// <summary>The peer answered the SYN with a reset: nothing listens on that port.</summary>
    ConnectionRefused,

    /// <summary>The peer reset the connection.</summary>
    ConnectionReset,

    /// <summary>The connection was aborted locally (<see cref="TcpConnection.Abort"/>) or the stack shut down.</summary>
    ConnectionAborted,

    /// <summary>The peer stopped acknowledging: retransmissions or keep-alive probes ran out.</summary>
    TimedOut,
}
