namespace P2PNet.Vpn;

/// <summary>A packet device could not be created or configured (the message says which command or call failed).</summary>
public class VpnDeviceException : IOException
{
    /// <summary>Creates the exception.</summary>
    public VpnDeviceException(string message) : base(message) { }

    /// <summary>Creates the exception with its cause.</summary>
    public VpnDeviceException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with a generic message.</summary>
    public VpnDeviceException() : base("The VPN device failed.") { }
}

/// <summary>
/// Creating or configuring a TUN device needs the CAP_NET_ADMIN capability, which this process lacks: run as root, or
/// grant it (<c>setcap cap_net_admin+ep</c> on the executable), or use <see cref="UserSpacePacketDevice"/>.
/// </summary>
public sealed class VpnPermissionException : VpnDeviceException
{
    /// <summary>Creates the exception.</summary>
    public VpnPermissionException(string message) : base(message) { }

    /// <summary>Creates the exception with its cause.</summary>
    public VpnPermissionException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with the standard advice.</summary>
    public VpnPermissionException() : base("A TUN device needs CAP_NET_ADMIN: run as root or grant the capability.") { }
}

/// <summary>The coordinator refused to admit this peer (not on its allow list, or the network is full).</summary>
public sealed class VpnJoinRejectedException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public VpnJoinRejectedException(string message) : base(message) { }

    /// <summary>Creates the exception with its cause.</summary>
    public VpnJoinRejectedException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with a generic message.</summary>
    public VpnJoinRejectedException() : base("The coordinator refused the join.") { }
}
