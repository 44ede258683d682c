using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using P2PNet.Discovery.Internal;
using P2PNet.Discovery.Mdns.Internal;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Peers;
using P2PNet.Security.Pnet;

namespace P2PNet.Discovery.Mdns;

/// <summary>
/// libp2p mDNS discovery (libp2p/specs <c>discovery/mdns.md</c>) for one <see cref="P2PHost"/>: periodically queries
/// <c>&lt;service&gt;</c> PTR; answers queries (ours included) with <c>PTR &lt;peer-name&gt;.&lt;service&gt;</c> and one
/// <c>TXT dnsaddr=&lt;multiaddr&gt;/p2p/&lt;id&gt;</c> record per listen address; puts peers it finds in the peer store,
/// raises <see cref="PeerDiscovered"/> and, when <see cref="MdnsOptions.AutoDial"/>, dials them.
/// </summary>
/// <remarks>Owned by the host: started with it, disposed by <see cref="P2PHost.StopAsync"/>. Malformed packets are dropped.</remarks>
internal sealed class MdnsDiscovery : IAsyncDisposable
{
    /// <summary>The <see cref="PeerDiscovered.Source"/> of peers found by mDNS.</summary>
    public const string Source = "mdns";

    private const int MaxRememberedPeers = 1024;
    private const string Alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

    private readonly P2PHost _host;
    private readonly MdnsOptions _options;
    private readonly ILogger _logger;
    private readonly List<MdnsSocket> _sockets = [];
    private readonly List<Task> _loops = [];
    private readonly CancellationTokenSource _stopping;
    private readonly ConcurrentDictionary<PeerId, HashSet<Multiaddr>> _seen = new();
    private readonly ConcurrentDictionary<PeerId, byte> _dialing = new();
    private long _lastAnswer;
    private readonly DialThrottle _dials;

    public MdnsDiscovery(P2PHost host, MdnsOptions options, ILogger logger)
    {
        _host = host;
        _options = options;
        _logger = logger;
        // Quiet from the moment the host begins to stop; the sockets close when the host stops this service.
        _stopping = CancellationTokenSource.CreateLinkedTokenSource(host.StoppingToken);
        ServiceName = options.ServiceName ?? ServiceNameFor(host.PrivateNetworkKeys.Key);
        PeerName = CreatePeerName();
        _dials = new DialThrottle(options.MaxConcurrentDials, options.MaxDialsPerInterval, options.DialRateInterval, host.TimeProvider);
    }

    /// <summary>The DNS-SD service we query and answer.</summary>
    public string ServiceName { get; }

    /// <summary>Our random instance label (32–63 lowercase letters and digits, regenerated each start).</summary>
    public string PeerName { get; }

    /// <summary><c>_p2p._udp.local</c>, or <c>_p2p-&lt;8 hex of the swarm key fingerprint&gt;._udp.local</c> in a private network.</summary>
    public static string ServiceNameFor(SwarmKey? key) =>
        key is null ? MdnsOptions.DefaultServiceName : $"_p2p-{key.FingerprintHex[..8]}._udp.local";

    private static string CreatePeerName()
    {
        int length = RandomNumberGenerator.GetInt32(32, 64);
        return RandomNumberGenerator.GetString(Alphabet, length);
    }

    /// <summary>Opens the sockets (a family that cannot be used is skipped with a warning) and starts the loops.</summary>
    public void Start()
    {
        if (_options.UseIPv4)
        {
            TryOpen(AddressFamily.InterNetwork);
        }
        if (_options.UseIPv6 && Socket.OSSupportsIPv6)
        {
            TryOpen(AddressFamily.InterNetworkV6);
        }
        MdnsLog.Started(_logger, ServiceName, PeerName, _sockets.Count);
        foreach (var socket in _sockets)
        {
            _loops.Add(ReceiveLoopAsync(socket));
        }
        if (_sockets.Count > 0)
        {
            _loops.Add(QueryLoopAsync());
        }
    }

    private void TryOpen(AddressFamily family)
    {
        try
        {
            _sockets.Add(MdnsSocket.Open(family, _options.Port));
        }
        catch (SocketException e)
        {
            MdnsLog.SocketUnavailable(_logger, family == AddressFamily.InterNetwork ? "IPv4" : "IPv6", e.Message);
        }
    }

    private async Task QueryLoopAsync()
    {
        await Task.Yield();
        var query = DnsMessageCodec.Encode(new DnsMessage(0, 0, [new DnsQuestion(ServiceName, DnsType.Ptr, DnsClass.In)], [], [], []));
        var period = _options.QueryInterval > TimeSpan.Zero ? _options.QueryInterval : TimeSpan.FromSeconds(10);
        using var timer = new PeriodicTimer(period, _host.TimeProvider);
        try
        {
            do
            {
                await SendAsync(query).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task SendAsync(byte[] packet)
    {
        foreach (var socket in _sockets)
        {
            try
            {
                await socket.SendAsync(packet, _stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                MdnsLog.SendFailed(_logger, e.Message);
            }
        }
    }

    private async Task ReceiveLoopAsync(MdnsSocket socket)
    {
        await Task.Yield();
        byte[] buffer = new byte[DnsMessageCodec.MaxMessageSize];
        EndPoint any = socket.Group.AddressFamily == AddressFamily.InterNetworkV6 ? new IPEndPoint(IPAddress.IPv6Any, 0) : new IPEndPoint(IPAddress.Any, 0);
        while (!_stopping.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await socket.Socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.MessageSize or SocketError.ConnectionReset)
            {
                continue; // an oversized datagram: dropped
            }
            var sender = (IPEndPoint)received.RemoteEndPoint;
            DnsMessage message;
            try
            {
                message = DnsMessageCodec.Parse(buffer.AsSpan(0, received.ReceivedBytes));
            }
            catch (WireFormatException e)
            {
                MdnsLog.Malformed(_logger, sender.ToString(), e.Message);
                continue;
            }
            if (message.IsResponse)
            {
                OnResponse(message, sender);
            }
            else if (message.Questions.Any(q => (q.Type == DnsType.Ptr || q.Type == DnsType.Any) && NameEquals(q.Name, ServiceName)))
            {
                await AnswerAsync().ConfigureAwait(false);
            }
        }
    }

    private static bool NameEquals(string a, string b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    /// <summary>Announces our records unasked (our addresses changed).</summary>
    public async Task AnnounceAsync()
    {
        if (!_stopping.IsCancellationRequested && _sockets.Count > 0)
        {
            await AnswerAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Multicasts our PTR and TXT records (at most one answer per 50 ms, so a query flood cannot make us flood).</summary>
    private async Task AnswerAsync()
    {
        long now = Environment.TickCount64;
        long last = Interlocked.Read(ref _lastAnswer);
        if (now - last < 50 || Interlocked.CompareExchange(ref _lastAnswer, now, last) != last)
        {
            return;
        }
        var answer = BuildAnswer();
        if (answer is not null)
        {
            await SendAsync(answer).ConfigureAwait(false);
        }
    }

    internal byte[]? BuildAnswer()
    {
        var all = _host.ListenAddresses;
        var useful = all.Where(a => !IsLoopback(a)).ToList();
        if (useful.Count == 0 || _options.AnnounceLoopback)
        {
            useful = [.. all];
        }
        if (useful.Count == 0)
        {
            return null;
        }
        uint ttl = (uint)Math.Clamp(_options.RecordTtl.TotalSeconds, 1, int.MaxValue);
        string instance = PeerName + "." + ServiceName;
        var txt = new List<DnsRecord>();
        foreach (var address in useful.Take(PeerStore.MaxAddressesPerPeer))
        {
            byte[] text = Encoding.UTF8.GetBytes("dnsaddr=" + address);
            if (text.Length <= 255)
            {
                txt.Add(new DnsRecord(instance, DnsType.Txt, DnsClass.In, ttl, new DnsTxtData([text])));
            }
        }
        var ptr = new DnsRecord(ServiceName, DnsType.Ptr, DnsClass.In, ttl, new DnsPtrData(instance));
        // The spec puts the TXT records in the additional section; js-libp2p reads answers and additionals alike.
        while (true)
        {
            try
            {
                return DnsMessageCodec.Encode(new DnsMessage(0, DnsMessage.ResponseFlags, [], [ptr], [], txt));
            }
            catch (ArgumentException) when (txt.Count > 1)
            {
                txt.RemoveAt(txt.Count - 1); // over 9000 bytes: announce fewer addresses
            }
        }
    }

    private static bool IsLoopback(Multiaddr address) =>
        address.TryGetTcpEndPoint(out var endPoint) && IPAddress.IsLoopback(endPoint.Address);

    private void OnResponse(DnsMessage message, IPEndPoint sender)
    {
        var instances = message.Answers
            .Where(r => r.Data is DnsPtrData && NameEquals(r.Name, ServiceName))
            .Select(r => ((DnsPtrData)r.Data).Target)
            .Where(t => !NameEquals(t, PeerName + "." + ServiceName))
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        if (instances.Count == 0)
        {
            return;
        }
        bool senderIsLoopback = IPAddress.IsLoopback(sender.Address.IsIPv4MappedToIPv6 ? sender.Address.MapToIPv4() : sender.Address);
        var found = new Dictionary<PeerId, List<Multiaddr>>();
        foreach (var record in message.Answers.Concat(message.Additionals))
        {
            if (record.Data is not DnsTxtData txt || !instances.Contains(record.Name))
            {
                continue;
            }
            foreach (var bytes in txt.Strings)
            {
                if (!bytes.AsSpan().StartsWith("dnsaddr="u8))
                {
                    continue;
                }
                string text;
                try
                {
                    text = new UTF8Encoding(false, true).GetString(bytes, 8, bytes.Length - 8);
                }
                catch (DecoderFallbackException)
                {
                    continue;
                }
                if (!Multiaddr.TryParse(text, out var address) || address.GetPeerId() is not { } peer || peer == _host.PeerId)
                {
                    continue;
                }
                var bare = address.WithoutPeerId();
                if (!_host.CanDial(bare) || IsLoopback(bare) && !senderIsLoopback)
                {
                    continue;
                }
                if (!found.TryGetValue(peer, out var list))
                {
                    found[peer] = list = [];
                }
                if (list.Count < PeerStore.MaxAddressesPerPeer && !list.Contains(bare))
                {
                    list.Add(bare);
                }
            }
        }
        foreach (var (peer, addresses) in found)
        {
            OnFound(peer, addresses);
        }
    }

    private void OnFound(PeerId peer, List<Multiaddr> addresses)
    {
        if (_host.Options.ConnectionGater is { } gater && !gater.AllowDialPeer(peer))
        {
            return;
        }
        _host.PeerStore.AddAddresses(peer, addresses);
        bool isNew = false;
        if (_seen.Count < MaxRememberedPeers || _seen.ContainsKey(peer))
        {
            var known = _seen.GetOrAdd(peer, _ => []);
            lock (known)
            {
                foreach (var address in addresses)
                {
                    isNew |= known.Add(address);
                }
            }
        }
        if (isNew)
        {
            foreach (var address in addresses)
            {
                MdnsLog.Discovered(_logger, peer, address);
            }
            _host.PublishEvent(new PeerDiscovered(peer, addresses, Source));
        }
        if (_options.AutoDial && _host.GetConnections(peer).Count == 0 && !_dialing.ContainsKey(peer))
        {
            if (!_dials.TryStart())
            {
                // Offered again by its next announcement; nothing queues meanwhile.
                if (_host.Resources.LogLimiter.TryAcquire("mdns.dial-deferred", out long suppressed))
                {
                    MdnsLog.DialDeferred(_logger, peer, suppressed);
                }
                return;
            }
            if (_dialing.TryAdd(peer, 0))
            {
                _host.TrackBackground(DialAsync(peer));
            }
            else
            {
                _dials.Complete();
            }
        }
    }

    private async Task DialAsync(PeerId peer)
    {
        try
        {
            await _host.DialAsync(peer, _stopping.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or TimeoutException or OperationCanceledException or NotSupportedException or ObjectDisposedException)
        {
            MdnsLog.DialFailed(_logger, peer, e.Message);
        }
        finally
        {
            _dialing.TryRemove(peer, out _);
            _dials.Complete();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_loops).ConfigureAwait(false);
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }
        _stopping.Dispose();
    }
}
