using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace P2PNet.Discovery.Mdns.Internal;

/// <summary>
/// One UDP socket bound to the mDNS port of one address family (shared with other responders through
/// SO_REUSEADDR), joined to the mDNS group on every multicast-capable interface that is up, sending to the group
/// on each of them (RFC 6762 §11: IP TTL 255, link-local only).
/// </summary>
internal sealed class MdnsSocket : IDisposable
{
    public static readonly IPAddress IPv4Group = IPAddress.Parse("224.0.0.251");
    public static readonly IPAddress IPv6Group = IPAddress.Parse("ff02::fb");

    private readonly List<(int Index, IPAddress? Address)> _interfaces;
    private readonly SemaphoreSlim _sendLock = new(1, 1);

    private MdnsSocket(Socket socket, IPEndPoint group, List<(int, IPAddress?)> interfaces)
    {
        Socket = socket;
        Group = group;
        _interfaces = interfaces;
    }

    public Socket Socket { get; }

    public IPEndPoint Group { get; }

    public int InterfaceCount => _interfaces.Count;

    /// <summary>Opens the socket; throws <see cref="SocketException"/> when the family or the group cannot be used.</summary>
    public static MdnsSocket Open(AddressFamily family, int port)
    {
        bool v6 = family == AddressFamily.InterNetworkV6;
        var group = new IPEndPoint(v6 ? IPv6Group : IPv4Group, port);
        var socket = new Socket(family, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            if (v6)
            {
                socket.DualMode = false;
            }
            socket.Bind(new IPEndPoint(v6 ? IPAddress.IPv6Any : IPAddress.Any, port));
            var level = v6 ? SocketOptionLevel.IPv6 : SocketOptionLevel.IP;
            socket.SetSocketOption(level, SocketOptionName.MulticastLoopback, true); // we answer our own queries too
            socket.SetSocketOption(level, v6 ? SocketOptionName.HopLimit : SocketOptionName.MulticastTimeToLive, 255);
            var interfaces = new List<(int, IPAddress?)>();
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            {
                if (nic.OperationalStatus is not (OperationalStatus.Up or OperationalStatus.Unknown) || !nic.SupportsMulticast)
                {
                    continue;
                }
                var properties = nic.GetIPProperties();
                try
                {
                    if (v6)
                    {
                        if (!nic.Supports(NetworkInterfaceComponent.IPv6) || !properties.UnicastAddresses.Any(u => u.Address.AddressFamily == AddressFamily.InterNetworkV6))
                        {
                            continue;
                        }
                        int index = properties.GetIPv6Properties().Index;
                        socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.AddMembership, new IPv6MulticastOption(IPv6Group, index));
                        interfaces.Add((index, null));
                    }
                    else
                    {
                        var address = properties.UnicastAddresses.Select(u => u.Address).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork);
                        if (address is null)
                        {
                            continue;
                        }
                        socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.AddMembership, new MulticastOption(IPv4Group, address));
                        interfaces.Add((0, address));
                    }
                }
                catch (Exception e) when (e is SocketException or NetworkInformationException or PlatformNotSupportedException)
                {
                    // this interface cannot join: use the others
                }
            }
            if (interfaces.Count == 0)
            {
                throw new SocketException((int)SocketError.AddressNotAvailable);
            }
            return new MdnsSocket(socket, group, interfaces);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends <paramref name="packet"/> to the group on every joined interface.</summary>
    public async ValueTask SendAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken)
    {
        await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var (index, address) in _interfaces)
            {
                try
                {
                    if (Group.AddressFamily == AddressFamily.InterNetworkV6)
                    {
                        Socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastInterface, index);
                    }
                    else
                    {
                        Socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastInterface, address!.GetAddressBytes());
                    }
                    await Socket.SendToAsync(packet, SocketFlags.None, Group, cancellationToken).ConfigureAwait(false);
                }
                catch (SocketException)
                {
                    // an interface went away; the next query or answer tries again
                }
            }
        }
        finally
        {
            _sendLock.Release();
        }
    }

    public void Dispose()
    {
        Socket.Dispose();
        _sendLock.Dispose();
    }
}
