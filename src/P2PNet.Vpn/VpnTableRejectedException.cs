namespace P2PNet.Vpn;

/// <summary>
/// A routing table was correctly signed by the coordinator but is unusable: a member's address lies outside the network
/// or is not a host address of it, or two members share an address or a peer id. The member keeps its previous table
/// (and, when joining, does not join); the coordinator that produced it is at fault.
/// </summary>
public sealed class VpnTableRejectedException : WireFormatException
{
    /// <summary>Creates the exception.</summary>
    public VpnTableRejectedException(string message) : base(message) { }

    /// <summary>Creates the exception with its cause.</summary>
    public VpnTableRejectedException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with a generic message.</summary>
    public VpnTableRejectedException() : base("The routing table is inconsistent.") { }
}
