using System.Buffers;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Host;
using P2PNet.Peers;
using P2PNet.Vpn.Internal;

namespace P2PNet.Vpn;

/// <summary>
/// A VPN over libp2p: every member gets a private IPv4 address, and IP packets travel directly between members on one
/// long-lived <c>/p2pnet/vpn/ip/2.0.0</c> (or, with older peers, <c>/p2pnet/vpn/ip/1.0.0</c>) stream per pair. One member, the coordinator (whoever calls
/// <see cref="StartAsync"/>), allocates addresses and pushes a signed, versioned routing table to every member over
/// <c>/p2pnet/vpn/control/1.0.0</c>; the others join it with <see cref="JoinAsync"/> and accept tables only from it.
/// </summary>
/// <remarks>
/// The data plane drops (and counts, see <see cref="GetStatistics"/>) packets whose source is not the sender's assigned
/// address, packets to addresses not in the table, and packets over a slow or absent peer's bounded queue. With a TUN
/// device opened with offload (<see cref="Tun.TunDevice.Offload"/>) it moves TCP/UDP super-packets of up to 64 KiB and
/// leaves segmentation and checksums to the receiving kernel; a receiver that cannot take them segments in software.
/// Control methods (<see cref="StartAsync"/>, <see cref="AddPeerAsync"/>, <see cref="RemovePeerAsync"/>,
/// <see cref="JoinAsync"/>, <see cref="StopAsync"/>) are thread-safe and serialised.
/// </remarks>
public sealed partial class VpnNetwork : IAsyncDisposable
{
    /// <summary>The control protocol: joins and signed routing tables.</summary>
    public const string ControlProtocolId = "/p2pnet/vpn/control/1.0.0";

    /// <summary>The first data protocol: finished IP packets, each preceded by a 2-byte big-endian length. Spoken with
    /// peers that do not offer <see cref="OffloadIpProtocolId"/>.</summary>
    public const string IpProtocolId = "/p2pnet/vpn/ip/1.0.0";

    /// <summary>The data protocol with offloads: IP packets that may be TCP/UDP super-packets of up to 64 KiB whose
    /// segmentation and transport checksum are left to the receiver (its kernel, or software); see docs/vpn.md.</summary>
    public const string OffloadIpProtocolId = "/p2pnet/vpn/ip/2.0.0";

    // Read buffers of offloading devices: any super-packet fits (an IPv4 total length is 16 bits).
    private const int SuperPacketBufferSize = 64 * 1024;

    // A packet read into a super-packet buffer up to this size is copied into a buffer of its own size, so a queue of
    // small packets (ACKs, pings) does not pin 64 KiB each.
    private const int SmallPacketSize = 2048;

    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly ILogger _logger;
    private readonly ILoggerFactory _loggerFactory;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _linksLock = new();
    private readonly List<Task> _background = [];
    private Dictionary<PeerId, PeerLink> _links = [];
    private Dictionary<uint, PeerLink> _routes = [];
    private VpnRoutingTable? _table;
    private uint _localAddress;
    private IPAddress? _configuredAddress;
    private Task _deviceLoop = Task.CompletedTask;
    private bool _started;
    private bool _stopped;

    /// <summary>Creates a VPN endpoint on <paramref name="host"/> that exchanges packets with <paramref name="device"/>.</summary>
    /// <param name="host">The libp2p host; a coordinator's host must have <see cref="P2PHostOptions.Identity"/> set (it signs tables).</param>
    /// <param name="device">The local attachment: a <see cref="Tun.TunDevice"/> or a <see cref="UserSpacePacketDevice"/>. Not disposed by this object.</param>
    /// <param name="options">Settings; defaults when null.</param>
    /// <param name="loggerFactory">Logging; none when null.</param>
    /// <param name="meterFactory">Metrics (meter <c>P2PNet.Vpn</c>); a private meter when null.</param>
    /// <param name="timeProvider">Time for redial backoff; the system clock when null.</param>
    public VpnNetwork(P2PHost host, IPacketDevice device, VpnOptions? options = null, ILoggerFactory? loggerFactory = null,
        IMeterFactory? meterFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(device);
        Host = host;
        Device = device;
        Options = options ?? new VpnOptions();
        Options.Validate();
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<VpnNetwork>();
        Metrics = new VpnMetrics(meterFactory);
        TimeProvider = timeProvider ?? TimeProvider.System;
        OpenDataStream = (peer, protocols, ct) => Host.OpenStreamAsync(peer, protocols, ct);
    }

    /// <summary>Raised after a routing table has been applied (on the thread that applied it).</summary>
    public event EventHandler<VpnRoutingTable>? RoutingTableChanged;

    /// <summary>The settings.</summary>
    public VpnOptions Options { get; }

    /// <summary>The libp2p host.</summary>
    public P2PHost Host { get; }

    /// <summary>The packet device.</summary>
    public IPacketDevice Device { get; }

    /// <summary>Whether this member is the coordinator.</summary>
    public bool IsCoordinator { get; private set; }

    /// <summary>The coordinator's peer id once started or joined.</summary>
    public PeerId? Coordinator { get; private set; }

    /// <summary>The current routing table, or null before the first one.</summary>
    public VpnRoutingTable? RoutingTable => Volatile.Read(ref _table);

    /// <summary>This member's private address, or null when it has none (not yet joined, or removed).</summary>
    public IPAddress? Address => _localAddress == 0 ? null : AddressPool.FromUInt32(_localAddress);

    internal VpnMetrics Metrics { get; }

    internal TimeProvider TimeProvider { get; }

    /// <summary>Opens a data stream to a member: <see cref="P2PHost.OpenStreamAsync(PeerId, IReadOnlyList{string}, CancellationToken)"/>;
    /// tests replace it to make the peer fail at a chosen moment.</summary>
    internal Func<PeerId, IReadOnlyList<string>, CancellationToken, ValueTask<P2PStream>> OpenDataStream { get; set; }

    internal uint LocalAddressValue => Volatile.Read(ref _localAddress);

    /// <summary>The data protocols this endpoint offers and accepts, preferred first.</summary>
    internal IReadOnlyList<string> DataProtocols => Options.LegacyFramingOnly ? [IpProtocolId] : [OffloadIpProtocolId, IpProtocolId];

    /// <summary>A snapshot of per-peer traffic and drop counters.</summary>
    public VpnStatistics GetStatistics()
    {
        Dictionary<PeerId, PeerLink> links;
        lock (_linksLock)
        {
            links = _links;
        }
        return new VpnStatistics(links.Values.ToDictionary(l => l.Peer.ToString(), l => l.Statistics), Metrics.DropSnapshot());
    }

    /// <summary>Stops carrying traffic: closes every data stream, stops reading the device and unregisters the protocols.
    /// Members keep their last table; a stopped coordinator no longer admits or removes members.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_stopped)
            {
                return;
            }
            _stopped = true;
            if (_started)
            {
                Host.RemoveStreamHandler(ControlProtocolId);
                foreach (string protocol in DataProtocols)
                {
                    Host.RemoveStreamHandler(protocol);
                }
            }
            await _stopping.CancelAsync().ConfigureAwait(false);
            lock (_pushLock)
            {
                // A barrier: a push retry loop registered before the cancellation is in _background now (EnsureRetry).
            }
            Dictionary<PeerId, PeerLink> links;
            lock (_linksLock)
            {
                links = _links;
                _links = [];
                _routes = [];
            }
            await Task.WhenAll(links.Values.Select(l => l.DisposeAsync().AsTask())).ConfigureAwait(false);
            Task[] background;
            lock (_background)
            {
                background = [.. _background];
            }
            await Task.WhenAll(background).ConfigureAwait(false);
            await _deviceLoop.ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        Metrics.Dispose();
        _stopping.Dispose();
    }

    private void RegisterHandlers()
    {
        ObjectDisposedException.ThrowIf(_stopped, this);
        if (_started)
        {
            throw new InvalidOperationException("This VPN endpoint has already started or joined a network.");
        }
        _started = true;
        Host.SetStreamHandler(ControlProtocolId, HandleControlAsync);
        foreach (string protocol in DataProtocols)
        {
            Host.SetStreamHandler(protocol, HandleIpAsync);
        }
    }

    private async Task HandleIpAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        PeerLink? link;
        lock (_linksLock)
        {
            _links.TryGetValue(stream.RemotePeer, out link);
        }
        if (link is null)
        {
            // Not (or no longer) a member: a removed peer cannot reach anyone. It may also be a member we have not
            // learnt of yet; it redials with backoff.
            VpnLog.InboundRefused(_logger, stream.RemotePeer);
            stream.Abort();
            return;
        }
        await link.RunInboundAsync(stream, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Makes <paramref name="table"/> current: configures the device, opens and closes links, rebuilds routes.
    /// The caller holds <see cref="_lock"/>.</summary>
    private async Task ApplyTableAsync(VpnRoutingTable table, CancellationToken cancellationToken)
    {
        var self = table.Find(Host.PeerId);
        if (self is not null && !Equals(self.Address, _configuredAddress))
        {
            await Device.ConfigureAsync(self.Address, table.Network.PrefixLength, table.Mtu, cancellationToken).ConfigureAwait(false);
            _configuredAddress = self.Address;
        }
        Volatile.Write(ref _localAddress, self is null ? 0 : AddressPool.ToUInt32(self.Address));

        // Only dialable addresses go to the peer store (DialAddressFilter): loopback only when the coordinator itself is
        // reached over loopback (it observed every member's address; the coordinator trusts its own observations).
        bool loopbackAllowed = IsCoordinator || ReachesCoordinatorOverLoopback();
        var removed = new List<PeerLink>();
        lock (_linksLock)
        {
            var links = new Dictionary<PeerId, PeerLink>();
            var routes = new Dictionary<uint, PeerLink>();
            if (self is not null)
            {
                foreach (var member in table.Members)
                {
                    if (member.Peer == Host.PeerId)
                    {
                        continue;
                    }
                    var dialable = DialAddressFilter.Filter(member.Addresses, seen: null, loopbackAllowed);
                    if (dialable.Count > 0)
                    {
                        Host.PeerStore.AddAddresses(member.Peer, dialable);
                    }
                    uint address = AddressPool.ToUInt32(member.Address);
                    if (_links.TryGetValue(member.Peer, out var link))
                    {
                        link.Address = address;
                    }
                    else
                    {
                        bool dials = Host.PeerId.Bytes.SequenceCompareTo(member.Peer.Bytes) < 0;
                        link = new PeerLink(this, member.Peer, address, dials, _loggerFactory.CreateLogger<PeerLink>());
                        link.Start();
                    }
                    links[member.Peer] = link;
                    routes[address] = link;
                }
            }
            removed.AddRange(_links.Values.Where(l => !links.ContainsKey(l.Peer)));
            _links = links;
            _routes = routes;
        }
        await Task.WhenAll(removed.Select(l => l.DisposeAsync().AsTask())).ConfigureAwait(false);
        Volatile.Write(ref _table, table);
        VpnLog.TableApplied(_logger, table.Version, table.Members.Count, self?.Address.ToString() ?? "(none)");
        if (self is not null && _deviceLoop.IsCompleted && !_stopping.IsCancellationRequested)
        {
            // A dedicated thread: a TUN device's read blocks in the kernel.
            _deviceLoop = Task.Factory.StartNew(() => DeviceLoopAsync(_stopping.Token), CancellationToken.None,
                TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        }
        RoutingTableChanged?.Invoke(this, table);
    }

    private bool ReachesCoordinatorOverLoopback()
    {
        if (Coordinator is not { } coordinator)
        {
            return false;
        }
        return Host.GetConnections(coordinator).Any(c =>
            (c.RemoteAddress.TryGetValue(Multiformats.MultiaddrProtocol.Ip4, out string? ip)
                || c.RemoteAddress.TryGetValue(Multiformats.MultiaddrProtocol.Ip6, out ip))
            && IPAddress.TryParse(ip, out var address) && IPAddress.IsLoopback(address));
    }

    /// <summary>Reads packets from the device and queues each one to the member that owns its destination.</summary>
    private async Task DeviceLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (Device is IOffloadPacketDevice { OffloadEnabled: true } offloading)
            {
                await ReadSuperPacketsAsync(offloading, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await ReadPacketsAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
#pragma warning disable CA1031 // logged; the device is gone, the control plane keeps running
        catch (Exception e)
#pragma warning restore CA1031
        {
            VpnLog.DeviceLoopFailed(_logger, e.Message);
        }
    }

    private async Task ReadPacketsAsync(CancellationToken cancellationToken)
    {
        int size = Math.Max(Options.Mtu, 1500);
        while (!cancellationToken.IsCancellationRequested)
        {
            byte[] buffer = ArrayPool<byte>.Shared.Rent(size);
            int length;
            try
            {
                length = await Device.ReadPacketAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(buffer);
                throw;
            }
            if (length <= 0)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                return;
            }
            if (!Route(buffer, length, default))
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>One read per super-packet, straight into the pooled buffer that is queued (and then written into the stream).</summary>
    private async Task ReadSuperPacketsAsync(IOffloadPacketDevice device, CancellationToken cancellationToken)
    {
        byte[]? large = null;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                large ??= ArrayPool<byte>.Shared.Rent(SuperPacketBufferSize);
                var read = await device.ReadOffloadedAsync(large, cancellationToken).ConfigureAwait(false);
                if (read.Length <= 0)
                {
                    return;
                }
                byte[] buffer;
                if (read.Length <= SmallPacketSize)
                {
                    buffer = ArrayPool<byte>.Shared.Rent(read.Length);
                    large.AsSpan(0, read.Length).CopyTo(buffer);
                }
                else
                {
                    buffer = large;
                    large = null;
                }
                if (!Route(buffer, read.Length, read.Offload))
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        finally
        {
            if (large is not null)
            {
                ArrayPool<byte>.Shared.Return(large);
            }
        }
    }

    /// <summary>Queues one outbound (super-)packet; false (dropped and counted) when it cannot be sent.</summary>
    private bool Route(byte[] buffer, int length, PacketOffload offload)
    {
        var packet = buffer.AsSpan(0, length);
        if (length > PacketFraming.MaxPacketSize || !IPv4Header.TryRead(packet, out uint source, out uint destination) || !offload.IsValidFor(packet))
        {
            Metrics.Dropped(VpnDropReason.Malformed);
            return false;
        }
        if (source != LocalAddressValue)
        {
            Metrics.Dropped(VpnDropReason.Spoofed);
            return false;
        }
        if (!Volatile.Read(ref _routes).TryGetValue(destination, out var link))
        {
            Metrics.Dropped(VpnDropReason.Unroutable);
            return false;
        }
        if (!link.TryEnqueue(buffer, length, offload))
        {
            Metrics.Dropped(VpnDropReason.QueueFull);
            return false;
        }
        return true;
    }

    private void Track(Task task)
    {
        lock (_background)
        {
            _background.RemoveAll(t => t.IsCompleted);
            _background.Add(task);
        }
    }
}
