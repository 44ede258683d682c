namespace P2PNet.Host;

/// <summary>The NAT type we sit behind changed, for one transport protocol (<c>tcp</c> or <c>udp</c>).</summary>
public sealed record NatDeviceTypeChanged(string TransportProtocol, NatDeviceType DeviceType) : HostEvent;
