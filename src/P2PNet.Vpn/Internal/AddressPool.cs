using System.Buffers.Binary;
using System.Net;

namespace P2PNet.Vpn.Internal;

/// <summary>
/// Hands out the host addresses of an IPv4 network: the requested one when it is free and usable, otherwise the lowest
/// free one. The network and broadcast addresses are never handed out. Not thread-safe (the coordinator holds a lock).
/// </summary>
internal sealed class AddressPool
{
    private readonly uint _first;
    private readonly uint _last;
    private readonly SortedSet<uint> _used = [];

    public AddressPool(IPNetwork network)
    {
        Network = network;
        uint baseAddress = ToUInt32(network.BaseAddress);
        uint size = network.PrefixLength == 0 ? uint.MaxValue : (1u << (32 - network.PrefixLength)) - 1;
        _first = baseAddress + 1;
        _last = baseAddress + size - 1;
    }

    public IPNetwork Network { get; }

    /// <summary>An address handed out only to whoever asks for it by name (the gateway's), never as "the lowest free".</summary>
    public IPAddress? Reserved { get; set; }

    public int Count => _used.Count;

    public bool IsUsable(IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && ToUInt32(address) is var a && a >= _first && a <= _last;

    public bool IsInUse(IPAddress address) => _used.Contains(ToUInt32(address));

    /// <summary>Allocates <paramref name="requested"/> if usable and free, else the lowest free address; null when full.</summary>
    public IPAddress? Allocate(IPAddress? requested)
    {
        if (requested is not null && IsUsable(requested) && _used.Add(ToUInt32(requested)))
        {
            return requested;
        }
        bool hold = Reserved is { } reserved && IsUsable(reserved) && _used.Add(ToUInt32(reserved));
        try
        {
            return AllocateLowest();
        }
        finally
        {
            if (hold)
            {
                _used.Remove(ToUInt32(Reserved!));
            }
        }
    }

    private IPAddress? AllocateLowest()
    {
        // The set is sorted, so walk it alongside the candidates: O(n) with no gaps, O(1) when the low end is free.
        uint candidate = _first;
        foreach (uint used in _used)
        {
            if (used > candidate)
            {
                break;
            }
            if (used == candidate)
            {
                if (candidate == _last)
                {
                    return null;
                }
                candidate++;
            }
        }
        if (candidate > _last || candidate < _first)
        {
            return null;
        }
        _used.Add(candidate);
        return FromUInt32(candidate);
    }

    public bool Release(IPAddress address) => _used.Remove(ToUInt32(address));

    public static uint ToUInt32(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        return address.TryWriteBytes(bytes, out int written) && written == 4 ? BinaryPrimitives.ReadUInt32BigEndian(bytes) : 0;
    }

    public static IPAddress FromUInt32(uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return new IPAddress(bytes);
    }
}
