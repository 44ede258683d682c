using System.Net;
using System.Net.Sockets;
using P2PNet.Multiformats;

namespace P2PNet.Transports.Tcp;

/// <summary>A bound, listening TCP socket — shared by the TCP and WebSocket transports.</summary>
internal static class ListeningSocket
{
    /// <summary>Binds <paramref name="endPoint"/> (IPv6 only on an IPv6 address: no dual mode) and starts listening.</summary>
    /// <exception cref="IOException">The address cannot be bound; the message names <paramref name="address"/>.</exception>
    public static Socket Open(IPEndPoint endPoint, int backlog, Multiaddr address)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = false;
            }
            socket.Bind(endPoint);
            socket.Listen(backlog);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new IOException($"Cannot listen on {address}: {e.Message}", e);
        }
    }
}
