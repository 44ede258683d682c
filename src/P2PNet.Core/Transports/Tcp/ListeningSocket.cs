using System.Net;
using System.Net.Sockets;
using P2PNet.Multiformats;

namespace P2PNet.Transports.Tcp;

/// <summary>A bound, listening TCP socket — shared by the TCP and WebSocket transports.</summary>
internal static class ListeningSocket
{
    /// <summary>Binds <paramref name="endPoint"/> (IPv6 only on an IPv6 address: no dual mode) and starts listening.</summary>
    /// <param name="endPoint">Where to listen.</param>
    /// <param name="backlog">The listen backlog.</param>
    /// <param name="address">For error messages.</param>
    /// <param name="reusePort">Set SO_REUSEADDR and SO_REUSEPORT, so that outbound connections can leave from the
    /// listening port (<see cref="TcpTransportOptions.PortReuse"/>).</param>
    /// <exception cref="IOException">The address cannot be bound; the message names <paramref name="address"/>.</exception>
    public static Socket Open(IPEndPoint endPoint, int backlog, Multiaddr address, bool reusePort = false)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = false;
            }
            if (reusePort)
            {
                SetReusePort(socket);
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

    /// <summary>SO_REUSEADDR and, where the platform has it, SO_REUSEPORT: the listening socket and the sockets that
    /// dial out from its port must all carry both (Linux lets sockets of the same user share a port only then).</summary>
    internal static void SetReusePort(Socket socket)
    {
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        if (OperatingSystem.IsLinux())
        {
            socket.SetRawSocketOption(SolSocket, SoReusePortLinux, BitConverter.GetBytes(1));
        }
        else if (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
        {
            socket.SetRawSocketOption(SolSocketBsd, SoReusePortBsd, BitConverter.GetBytes(1));
        }
    }

    private const int SolSocket = 1;
    private const int SoReusePortLinux = 15;
    private const int SolSocketBsd = 0xffff;
    private const int SoReusePortBsd = 0x200;
}
