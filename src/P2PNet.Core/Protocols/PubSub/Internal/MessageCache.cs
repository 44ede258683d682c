using P2PNet.Protocols.PubSub.Protos;

namespace P2PNet.Protocols.PubSub.Internal;

/// <summary>
/// The message cache (gossipsub-v1.0.md "Message Cache"): messages of the last <c>HistoryLength</c> heartbeat windows,
/// served to IWANT; ids of the last <c>HistoryGossip</c> windows advertised in IHAVE. Not thread-safe: the router holds its lock.
/// </summary>
internal sealed class MessageCache(int historyLength, int historyGossip)
{
    private readonly Dictionary<string, Entry> _messages = new(StringComparer.Ordinal);
    private readonly LinkedList<List<(string Id, string Topic)>> _windows = new([new List<(string, string)>()]);

    public int Count => _messages.Count;

    public void Put(string id, byte[] idBytes, PbMessage message)
    {
        if (_messages.TryAdd(id, new Entry(idBytes, message)))
        {
            _windows.First!.Value.Add((id, message.Topic));
        }
    }

    public PbMessage? Get(string id) => _messages.TryGetValue(id, out var entry) ? entry.Message : null;

    /// <summary>The message for an IWANT from <paramref name="peer"/>, counting the request; <see langword="null"/> when
    /// unknown or already served <paramref name="maxTransmissions"/> times to that peer.</summary>
    public PbMessage? GetForPeer(string id, Peers.PeerId peer, int maxTransmissions)
    {
        if (!_messages.TryGetValue(id, out var entry))
        {
            return null;
        }
        entry.Transmissions ??= [];
        entry.Transmissions.TryGetValue(peer, out int served);
        if (served >= maxTransmissions)
        {
            return null;
        }
        entry.Transmissions[peer] = served + 1;
        return entry.Message;
    }

    public List<byte[]> GossipIds(string topic)
    {
        var ids = new List<byte[]>();
        int window = 0;
        for (var node = _windows.First; node is not null && window < historyGossip; node = node.Next, window++)
        {
            foreach (var (id, t) in node.Value)
            {
                if (t == topic && _messages.TryGetValue(id, out var entry))
                {
                    ids.Add(entry.IdBytes);
                }
            }
        }
        return ids;
    }

    public void Shift()
    {
        if (_windows.Count >= historyLength)
        {
            foreach (var (id, _) in _windows.Last!.Value)
            {
                _messages.Remove(id);
            }
            _windows.RemoveLast();
        }
        _windows.AddFirst([]);
    }

    private sealed class Entry(byte[] idBytes, PbMessage message)
    {
        public byte[] IdBytes { get; } = idBytes;

        public PbMessage Message { get; } = message;

        public Dictionary<Peers.PeerId, int>? Transmissions { get; set; }
    }
}
