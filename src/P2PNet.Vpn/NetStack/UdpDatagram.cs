using System.Net;

namespace P2PNet.Vpn.NetStack;

/// <summary>What <see cref="UdpSocket.ReceiveFromAsync"/> received: how many bytes, and from where.</summary>
/// <param name="Length">Bytes copied into the caller's buffer (a longer datagram is truncated).</param>
/// <param name="RemoteEndPoint">The sender.</param>
public readonly record struct UdpDatagram(int Length, IPEndPoint RemoteEndPoint);
