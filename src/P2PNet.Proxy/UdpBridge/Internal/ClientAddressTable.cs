using System.Net;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>
/// Per-address admission: bounds connections in their opening handshake (in total and per address) and clients per
/// address, keeping one <see cref="ClientAddress"/> per address group while it has any.
/// </summary>
/// <remarks>
/// Admission is not a hot path (once per connection), so one lock guards the table and the counts. An entry leaves the
/// table when its last handshake and client end, so memory follows the addresses connected now. Thread-safe.
/// </remarks>
internal sealed class ClientAddressTable(UdpBridgeOptions options, TimeProvider timeProvider)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<UInt128, ClientAddress> _entries = [];
    private int _handshakes;

    /// <summary>Address groups with a handshake or a client now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Counts a connection in its opening handshake, unless a limit is reached.</summary>
    /// <param name="remote">The connection's remote address.</param>
    /// <param name="entry">The address's entry, to give back to <see cref="EndHandshake"/>.</param>
    /// <returns><see langword="null"/> when admitted, else the refusal reason (a metric tag).</returns>
    public string? TryBeginHandshake(IPAddress? remote, out ClientAddress? entry)
    {
        lock (_lock)
        {
            entry = null;
            if (_handshakes >= options.MaxPendingHandshakes)
            {
                return "handshakes";
            }

            ClientAddress candidate = GetOrAdd(remote);
            if (candidate.Handshakes >= options.MaxPendingHandshakesPerAddress)
            {
                RemoveIfUnused(candidate);
                return "handshakes_per_address";
            }

            candidate.Handshakes++;
            _handshakes++;
            entry = candidate;
            return null;
        }
    }

    /// <summary>Ends a handshake counted by <see cref="TryBeginHandshake"/>.</summary>
    public void EndHandshake(ClientAddress entry)
    {
        lock (_lock)
        {
            entry.Handshakes--;
            _handshakes--;
            RemoveIfUnused(entry);
        }
    }

    /// <summary>Counts a client of <paramref name="remote"/>, unless the address has <see cref="UdpBridgeOptions.MaxClientsPerAddress"/>.</summary>
    /// <returns>The address's entry, to give back to <see cref="RemoveClient"/>; <see langword="null"/> when refused.</returns>
    public ClientAddress? TryAddClient(IPAddress? remote)
    {
        lock (_lock)
        {
            ClientAddress entry = GetOrAdd(remote);
            if (entry.Clients >= options.MaxClientsPerAddress)
            {
                RemoveIfUnused(entry);
                return null;
            }

            entry.Clients++;
            return entry;
        }
    }

    /// <summary>Ends a client counted by <see cref="TryAddClient"/>.</summary>
    public void RemoveClient(ClientAddress entry)
    {
        lock (_lock)
        {
            entry.Clients--;
            RemoveIfUnused(entry);
        }
    }

    private ClientAddress GetOrAdd(IPAddress? remote)
    {
        UInt128 key = ClientAddress.KeyOf(remote);
        if (!_entries.TryGetValue(key, out ClientAddress? entry))
        {
            entry = new ClientAddress(key, timeProvider.GetTimestamp(), options.MaxDatagramsPerSecondPerAddress, options.MaxBytesPerSecondPerAddress);
            _entries.Add(key, entry);
        }

        return entry;
    }

    private void RemoveIfUnused(ClientAddress entry)
    {
        if (entry.Handshakes == 0 && entry.Clients == 0)
        {
            _entries.Remove(entry.Key);
        }
    }
}
