namespace P2PNet.Host;

/// <summary>The behaviour of the NAT in front of us.</summary>
public enum NatDeviceType
{
    /// <summary>Not known.</summary>
    Unknown,

    /// <summary>Endpoint-independent mapping: hole punching can work.</summary>
    Cone,

    /// <summary>Endpoint-dependent mapping: hole punching will not work.</summary>
    Symmetric,
}
