using System.Net;

namespace P2PNet.Proxy.Inbound;

/// <summary>One connection an <see cref="InboundForwarder"/> carries.</summary>
/// <param name="Client">The public client's endpoint.</param>
/// <param name="VpnEndPoint">The connection's own endpoint in the VPN (the stack's address and an ephemeral port);
/// null while it is connecting.</param>
/// <param name="BytesToTarget">Bytes carried from the client to the target so far.</param>
/// <param name="BytesFromTarget">Bytes carried from the target to the client so far.</param>
public readonly record struct InboundConnectionStatistics(IPEndPoint Client, IPEndPoint? VpnEndPoint, long BytesToTarget, long BytesFromTarget);
