using System.Net;
using System.Net.Sockets;
using P2PNet.Multiformats;

namespace P2PNet.Host.Internal;

/// <summary>
/// What peers tell us our address is (identify's <c>observedAddr</c>), kept per local listening port as go-libp2p's
/// observed-address manager does. Only connections whose local port is a listening port count: an outbound connection
/// from an ephemeral port says nothing about the port others must dial. Each observer (an IPv4 address, an IPv6 /56)
/// backs one address per local port; an address backed by <see cref="ObservedAddressOptions.ActivationThreshold"/>
/// observers is <em>activated</em>: advertised and handed to AutoNAT and hole punching. Several observers seeing one
/// local port under different external ports is the mark of an endpoint-dependent (symmetric) NAT.
/// </summary>
/// <remarks>Thread-safe; bounded (ports, addresses per port, observers per address).</remarks>
internal sealed class ObservedAddressManager(ObservedAddressOptions options, TimeProvider time)
{
    private const int MaxPorts = 8;
    private const int MaxAddressesPerPort = 16;
    private const int MaxObserversPerAddress = 256;

    private readonly Lock _lock = new();
    // local (family, port) → observed address → observer → last seen
    private readonly Dictionary<(AddressFamily Family, int Port), Dictionary<Multiaddr, Dictionary<string, DateTimeOffset>>> _byPort = [];

    /// <summary>Records one observation; returns whether the activated addresses or the NAT type may have changed.</summary>
    /// <param name="localAddress">The connection's local address.</param>
    /// <param name="remoteAddress">The connection's remote address (the observer).</param>
    /// <param name="observed">What the observer says our address is.</param>
    /// <param name="listeningPorts">The TCP ports we listen on now.</param>
    public bool Record(Multiaddr localAddress, Multiaddr remoteAddress, Multiaddr observed, IReadOnlyCollection<int> listeningPorts)
    {
        if (!localAddress.TryGetTcpEndPoint(out var local) || !remoteAddress.TryGetTcpEndPoint(out var remote)
            || !observed.WithoutPeerId().TryGetTcpEndPoint(out var seen) || !listeningPorts.Contains(local.Port)
            || IPAddress.IsLoopback(remote.Address) || IPAddress.IsLoopback(seen.Address) || seen.Port == 0
            || seen.AddressFamily != local.AddressFamily)
        {
            return false;
        }
        string observer = ObserverGroup(remote.Address);
        Multiaddr address = Multiaddr.FromTcpEndPoint(seen);
        DateTimeOffset now = time.GetUtcNow();
        lock (_lock)
        {
            Expire(now);
            var key = (local.AddressFamily, local.Port);
            if (!_byPort.TryGetValue(key, out var addresses))
            {
                if (_byPort.Count >= MaxPorts)
                {
                    return false;
                }
                addresses = [];
                _byPort[key] = addresses;
            }
            // One observer backs one address per port: a NAT that re-mapped us moves the vote.
            foreach (var (other, observers) in addresses)
            {
                if (!other.Equals(address))
                {
                    observers.Remove(observer);
                }
            }
            foreach (var empty in addresses.Where(a => a.Value.Count == 0).Select(a => a.Key).ToArray())
            {
                addresses.Remove(empty);
            }
            if (!addresses.TryGetValue(address, out var backers))
            {
                if (addresses.Count >= MaxAddressesPerPort)
                {
                    var weakest = addresses.MinBy(a => a.Value.Count).Key;
                    addresses.Remove(weakest);
                }
                backers = [];
                addresses[address] = backers;
            }
            if (!backers.ContainsKey(observer) && backers.Count >= MaxObserversPerAddress)
            {
                backers.Remove(backers.MinBy(b => b.Value).Key);
            }
            backers[observer] = now;
            return true;
        }
    }

    /// <summary>Addresses backed by enough observers, most backed first.</summary>
    public IReadOnlyList<Multiaddr> Activated
    {
        get
        {
            lock (_lock)
            {
                Expire(time.GetUtcNow());
                return [.. _byPort.Values.SelectMany(a => a)
                    .Where(a => a.Value.Count >= options.ActivationThreshold)
                    .OrderByDescending(a => a.Value.Count).Select(a => a.Key).Distinct()];
            }
        }
    }

    /// <summary>Every observed address, most backed first (hole punching's guesses when none is activated yet).</summary>
    public IReadOnlyList<Multiaddr> All
    {
        get
        {
            lock (_lock)
            {
                Expire(time.GetUtcNow());
                return [.. _byPort.Values.SelectMany(a => a).OrderByDescending(a => a.Value.Count).Select(a => a.Key).Distinct()];
            }
        }
    }

    /// <summary>
    /// The TCP mapping behaviour, from the local port with the most observers: <see cref="NatDeviceType.Cone"/>
    /// (endpoint-independent) when one external address is backed by at least the threshold and by at least half of
    /// the observers; <see cref="NatDeviceType.Symmetric"/> (endpoint-dependent) when enough observers reported but no
    /// address gathered the threshold; otherwise unknown.
    /// </summary>
    public NatDeviceType DeviceType
    {
        get
        {
            lock (_lock)
            {
                Expire(time.GetUtcNow());
                var busiest = _byPort.Values.MaxBy(a => a.Values.Sum(o => o.Count));
                if (busiest is null)
                {
                    return NatDeviceType.Unknown;
                }
                int total = busiest.Values.Sum(o => o.Count);
                int top = busiest.Values.Max(o => o.Count);
                if (total < options.ActivationThreshold)
                {
                    return NatDeviceType.Unknown;
                }
                return top >= options.ActivationThreshold && top * 2 >= total ? NatDeviceType.Cone
                    : top < options.ActivationThreshold ? NatDeviceType.Symmetric : NatDeviceType.Unknown;
            }
        }
    }

    private void Expire(DateTimeOffset now)
    {
        DateTimeOffset oldest = now - options.Ttl;
        foreach (var (port, addresses) in _byPort.ToArray())
        {
            foreach (var (address, observers) in addresses.ToArray())
            {
                foreach (var stale in observers.Where(o => o.Value < oldest).Select(o => o.Key).ToArray())
                {
                    observers.Remove(stale);
                }
                if (observers.Count == 0)
                {
                    addresses.Remove(address);
                }
            }
            if (addresses.Count == 0)
            {
                _byPort.Remove(port);
            }
        }
    }

    /// <summary>One vote per IPv4 address and per IPv6 /56 (one household, one provider allocation).</summary>
    private static string ObserverGroup(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            return address.ToString();
        }
        byte[] bytes = address.GetAddressBytes();
        return Convert.ToHexString(bytes, 0, 7);
    }
}
