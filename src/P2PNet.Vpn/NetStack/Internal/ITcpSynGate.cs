namespace P2PNet.Vpn.NetStack.Internal;

/// <summary>Decides when the SYNs of a wildcard listener (<see cref="IPStack.ListenTcpAny"/>) are answered: a gateway
/// answers only once the connection the SYN stands for is made on the other side, so a refused port is refused here too.</summary>
internal interface ITcpSynGate
{
    /// <summary>A SYN for no existing connection arrived (checksum verified, within the half-open bound). Called under the
    /// stack's lock from the thread that fed the packet: record it and return; answer later, outside the lock, with
    /// <see cref="IPStack.AcceptSyn"/> or <see cref="IPStack.RefuseSyn"/>. Retransmissions of a SYN not yet answered
    /// come here again.</summary>
    void OnSyn(IPStack stack, TcpPortListener listener, uint remote, in TcpSegment syn);
}
