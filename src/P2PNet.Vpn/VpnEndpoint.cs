using System.Buffers;
using System.Diagnostics.Metrics;
using System.Net;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Peers;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.Protos;

namespace P2PNet.Vpn;

/// <summary>
/// One endpoint of a VPN over libp2p, the data plane that <see cref="VpnCoordinator"/> and <see cref="VpnMember"/> share:
/// every member has a private IPv4 address, and IP packets travel directly between members on one long-lived
/// <c>/p2pnet/vpn/ip/2.0.0/&lt;vpn id&gt;</c> (or, with a peer that offers only finished packets,
/// <c>/p2pnet/vpn/ip/1.0.0/&lt;vpn id&gt;</c>) stream per pair. The coordinator allocates addresses and pushes a signed,
/// versioned routing table to every member over <c>/p2pnet/vpn/control/1.0.0/&lt;vpn id&gt;</c>.
/// </summary>
/// <remarks>
/// Every protocol id ends in the VPN's id (<see cref="VpnId"/>), so a host runs several VPNs at once (two coordinators,
/// a coordinator and a member of another VPN, two memberships): each endpoint serves only its own streams, and a peer
/// that is a member of one VPN cannot send into another (docs/vpn.md, "Several VPNs per host").
/// The data plane drops (and counts, see <see cref="GetStatistics"/>) packets whose source is not the sender's assigned
/// address, packets to addresses not in the table, and packets over a slow or absent peer's bounded queue. With a TUN
/// device opened with offload (<see cref="Tun.TunDevice.Offload"/>) it moves TCP/UDP super-packets of up to 64 KiB and
/// leaves segmentation and checksums to the receiving kernel; a receiver that cannot take them segments in software.
/// Control methods are thread-safe and serialised.
/// </remarks>
public abstract partial class VpnEndpoint : IAsyncDisposable
{
    /// <summary>The control protocol (joins and signed routing tables) without its VPN id; on the wire it is
    /// <c>/p2pnet/vpn/control/1.0.0/&lt;vpn id&gt;</c>. A join that does not know the id is sent on this bare id and
    /// reaches the host's only coordinator.</summary>
    public const string ControlProtocolId = "/p2pnet/vpn/control/1.0.0";

    /// <summary>The first data protocol without its VPN id: finished IP packets, each preceded by a 2-byte big-endian
    /// length. Spoken with peers that do not offer <see cref="OffloadIpProtocolId"/>.</summary>
    public const string IpProtocolId = "/p2pnet/vpn/ip/1.0.0";

    /// <summary>The data protocol with offloads without its VPN id: IP packets that may be TCP/UDP super-packets of up to
    /// 64 KiB whose segmentation and transport checksum are left to the receiver (its kernel, or software); see docs/vpn.md.</summary>
    public const string OffloadIpProtocolId = "/p2pnet/vpn/ip/2.0.0";

    private readonly Lock _linksLock = new();
    private Dictionary<PeerId, PeerLink> _links = [];
    private Dictionary<uint, PeerLink> _routes = [];

    // Completed and replaced each time a table is applied (under _linksLock): a data stream from a peer we do not know
    // yet waits on it for a while (TableWait) before it is refused.
    private TaskCompletionSource _linksChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _streamsWaitingForTable;

    // How long a data stream from an unknown peer waits for a table that names it, and how many may wait at once (the
    // rest are refused at once): the peer that admitted a member dials it as soon as it has, often before the member
    // has applied the table from its own join (without the wait, the first packets after a join waited out a redial).
    private static readonly TimeSpan TableWait = TimeSpan.FromSeconds(2);
    private const int MaxStreamsWaitingForTable = 16;

    private VpnRoutingTable? _table;
    private uint _localAddress;
    private IPAddress? _configuredAddress;
    private Task _deviceLoop = Task.CompletedTask;
    private string? _vpnId;
    private bool _registered;

    /// <summary>Sets up the data plane; nothing is opened or started until the role's start or join.</summary>
    private protected VpnEndpoint(P2PHost host, IPacketDevice device, VpnOptions? options, ILoggerFactory? loggerFactory,
        IMeterFactory? meterFactory, TimeProvider? timeProvider)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(device);
        Host = host;
        Device = device;
        Options = options ?? new VpnOptions();
        Options.Validate();
        _vpnId = Options.VpnId;
        LoggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        Logger = LoggerFactory.CreateLogger(GetType());
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

    /// <summary>The VPN's id, 32 lowercase hex characters, carried on every stream of this VPN: a coordinator's from
    /// <see cref="VpnOptions.VpnId"/> or generated when it is created; a member's from <see cref="VpnOptions.VpnId"/> or
    /// learnt from the coordinator's table when it joins (null until then).</summary>
    public string? VpnId => Volatile.Read(ref _vpnId);

    /// <summary>The coordinator's peer id once started or joined.</summary>
    public PeerId? Coordinator { get; private protected set; }

    /// <summary>The current routing table, or null before the first one.</summary>
    public VpnRoutingTable? RoutingTable => Volatile.Read(ref _table);

    /// <summary>This member's private address, or null when it has none (not yet joined, or removed).</summary>
    public IPAddress? Address => _localAddress == 0 ? null : AddressPool.FromUInt32(_localAddress);

    internal VpnMetrics Metrics { get; }

    internal TimeProvider TimeProvider { get; }

    /// <summary>Serialises the control plane (start, join, table changes, stop).</summary>
    private protected SemaphoreSlim ControlLock { get; } = new(1, 1);

    /// <summary>Cancelled by <see cref="StopAsync"/>: ends the device loop and the control plane's background work.</summary>
    private protected CancellationTokenSource Stopping { get; } = new();

    private protected ILogger Logger { get; }

    private protected ILoggerFactory LoggerFactory { get; }

    private protected bool Stopped { get; private set; }

    /// <summary>Opens a data stream to a member: <see cref="P2PHost.OpenStreamAsync(PeerId, IReadOnlyList{string}, CancellationToken)"/>;
    /// tests replace it to make the peer fail at a chosen moment.</summary>
    internal Func<PeerId, IReadOnlyList<string>, CancellationToken, ValueTask<P2PStream>> OpenDataStream { get; set; }

    internal uint LocalAddressValue => Volatile.Read(ref _localAddress);

    /// <summary>This VPN's control protocol: <see cref="ControlProtocolId"/>/&lt;vpn id&gt;.</summary>
    internal string ControlProtocol => VpnIds.Protocol(ControlProtocolId, RequireVpnId());

    /// <summary>This VPN's offload data protocol: <see cref="OffloadIpProtocolId"/>/&lt;vpn id&gt;.</summary>
    internal string OffloadIpProtocol => VpnIds.Protocol(OffloadIpProtocolId, RequireVpnId());

    /// <summary>This VPN's finished-packet data protocol: <see cref="IpProtocolId"/>/&lt;vpn id&gt;.</summary>
    internal string IpProtocol => VpnIds.Protocol(IpProtocolId, RequireVpnId());

    /// <summary>The data protocols this endpoint offers and accepts, preferred first.</summary>
    internal IReadOnlyList<string> DataProtocols => Options.LegacyFramingOnly ? [IpProtocol] : [OffloadIpProtocol, IpProtocol];

    /// <summary>Whether members' loopback addresses are worth dialing: only when the coordinator itself is reached over
    /// loopback (it observed every member's address; the coordinator trusts its own observations).</summary>
    private protected virtual bool LoopbackAllowed => ReachesCoordinatorOverLoopback();

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

    /// <summary>The protocol of the data stream this endpoint sends to <paramref name="peer"/> on (null when there is
    /// none yet).</summary>
    internal string? DataProtocolTo(PeerId peer)
    {
        lock (_linksLock)
        {
            return _links.GetValueOrDefault(peer)?.Protocol;
        }
    }

    /// <summary>Stops carrying traffic: closes every data stream, stops reading the device and unregisters the protocols.
    /// Members keep their last table; a stopped coordinator no longer admits or removes members.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await ControlLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Stopped)
            {
                return;
            }
            Stopped = true;
            UnregisterHandlers();
            await Stopping.CancelAsync().ConfigureAwait(false);
            Dictionary<PeerId, PeerLink> links;
            lock (_linksLock)
            {
                links = _links;
                _links = [];
                _routes = [];
            }
            await Task.WhenAll(links.Values.Select(l => l.DisposeAsync().AsTask())).ConfigureAwait(false);
            await StopControlPlaneAsync().ConfigureAwait(false);
            await _deviceLoop.ConfigureAwait(false);
        }
        finally
        {
            ControlLock.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        Metrics.Dispose();
        Stopping.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Waits for the role's background work after <see cref="Stopping"/> was cancelled. Called under
    /// <see cref="ControlLock"/>.</summary>
    private protected virtual Task StopControlPlaneAsync() => Task.CompletedTask;

    /// <summary>Answers one control message of a peer; null refuses it (the stream is reset).</summary>
    private protected abstract Task<ControlMessage?> AnswerControlAsync(P2PStream stream, ControlMessage message, CancellationToken cancellationToken);

    /// <summary>A data stream to <paramref name="peer"/> came up on <paramref name="connection"/> (the coordinator pushes a
    /// missed table).</summary>
    internal virtual void OnLinkUp(PeerId peer, P2PConnection connection)
    {
    }

    /// <summary>Fixes the VPN id (a member learns it from its first table); the id cannot change afterwards.</summary>
    private protected void SetVpnId(string vpnId)
    {
        if (Interlocked.CompareExchange(ref _vpnId, vpnId, null) is { } existing && existing != vpnId)
        {
            throw new InvalidOperationException($"This endpoint belongs to VPN {existing}, not {vpnId}.");
        }
    }

    /// <summary>Claims this VPN's id on the host and serves its control and data protocols.</summary>
    /// <exception cref="InvalidOperationException">Another endpoint on this host already serves this VPN id.</exception>
    private protected void RegisterHandlers(bool coordinator)
    {
        ObjectDisposedException.ThrowIf(Stopped, this);
        if (_registered)
        {
            throw new InvalidOperationException("This VPN endpoint has already started or joined a network.");
        }
        VpnHostRegistry.Register(this, coordinator);
        _registered = true;
        Host.SetStreamHandler(ControlProtocol, HandleControlAsync);
        foreach (string protocol in DataProtocols)
        {
            Host.SetStreamHandler(protocol, HandleIpAsync);
        }
    }

    private protected bool HandlersRegistered => _registered;

    /// <summary>Stops serving this VPN's protocols and releases its id on the host (a join that failed).</summary>
    private protected void UnregisterHandlers()
    {
        if (!_registered)
        {
            return;
        }
        _registered = false;
        VpnHostRegistry.Unregister(this);
        Host.RemoveStreamHandler(ControlProtocol);
        foreach (string protocol in DataProtocols)
        {
            Host.RemoveStreamHandler(protocol);
        }
    }

    private string RequireVpnId() => VpnId ?? throw new InvalidOperationException("This member has not learnt its VPN id yet: join first.");

    /// <summary>Serves one control stream: reads one message and writes the role's answer. Malformed or unexpected
    /// messages are refused (logged, stream reset); they never end the network.</summary>
    internal async Task HandleControlAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, Stopping.Token);
        timeout.CancelAfter(Options.ControlTimeout * 2);
        ControlMessage message;
        try
        {
            byte[]? bytes = await LengthPrefixed.ReadAsync(stream.Input, Options.MaxControlMessageSize, timeout.Token).ConfigureAwait(false);
            if (bytes is null)
            {
                return;
            }
            message = ControlCodec.Parse(bytes);
        }
        catch (WireFormatException e)
        {
            VpnLog.ControlRefused(Logger, stream.RemotePeer, e.Message);
            stream.Abort();
            return;
        }
        var reply = await AnswerControlAsync(stream, message, timeout.Token).ConfigureAwait(false);
        if (reply is null)
        {
            VpnLog.ControlRefused(Logger, stream.RemotePeer, $"unexpected {message.BodyCase} message on the control protocol");
            stream.Abort();
            return;
        }
        await LengthPrefixed.WriteAsync(stream.Output, reply.ToByteArray(), timeout.Token).ConfigureAwait(false);
        await stream.CompleteWritesAsync(timeout.Token).ConfigureAwait(false);
    }

    private async Task HandleIpAsync(P2PStream stream, CancellationToken cancellationToken)
    {
        var link = await FindLinkAsync(stream.RemotePeer, cancellationToken).ConfigureAwait(false);
        if (link is null)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                stream.Abort(); // shutting down while it waited for a table: not a refusal worth a warning
                return;
            }
            // Not (or no longer) a member: a removed peer cannot reach anyone. A member we learn of later redials
            // with backoff.
            VpnLog.InboundRefused(Logger, stream.RemotePeer);
            stream.Abort();
            return;
        }
        await link.RunInboundAsync(stream, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The link to <paramref name="peer"/>; when there is none, waits up to <see cref="TableWait"/> for a table
    /// that names it (a member that has just joined is dialed before it has applied its table). Null when none came.</summary>
    private async Task<PeerLink?> FindLinkAsync(PeerId peer, CancellationToken cancellationToken)
    {
        Task changed;
        lock (_linksLock)
        {
            if (_links.TryGetValue(peer, out var link))
            {
                return link;
            }
            changed = _linksChanged.Task;
        }
        if (Interlocked.Increment(ref _streamsWaitingForTable) > MaxStreamsWaitingForTable)
        {
            Interlocked.Decrement(ref _streamsWaitingForTable);
            return null;
        }
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TableWait);
            while (true)
            {
                try
                {
                    await changed.WaitAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return null;
                }
                lock (_linksLock)
                {
                    if (_links.TryGetValue(peer, out var link))
                    {
                        return link;
                    }
                    changed = _linksChanged.Task;
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _streamsWaitingForTable);
        }
    }

    /// <summary>Makes <paramref name="table"/> current: configures the device, opens and closes links, rebuilds routes.
    /// The caller holds <see cref="ControlLock"/>.</summary>
    private protected async Task ApplyTableAsync(VpnRoutingTable table, CancellationToken cancellationToken)
    {
        var self = table.Find(Host.PeerId);
        if (self is not null && !Equals(self.Address, _configuredAddress))
        {
            await Device.ConfigureAsync(self.Address, table.Network.PrefixLength, table.Mtu, cancellationToken).ConfigureAwait(false);
            _configuredAddress = self.Address;
        }
        Volatile.Write(ref _localAddress, self is null ? 0 : AddressPool.ToUInt32(self.Address));

        // Only dialable addresses go to the peer store (DialAddressFilter).
        bool loopbackAllowed = LoopbackAllowed;
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
                        link.RedialNow(); // a member that joins is dialed at once, not when an old backoff ends
                    }
                    else
                    {
                        bool dials = Host.PeerId.Bytes.SequenceCompareTo(member.Peer.Bytes) < 0;
                        link = new PeerLink(this, member.Peer, address, dials, LoggerFactory.CreateLogger<PeerLink>());
                        link.Start();
                    }
                    links[member.Peer] = link;
                    routes[address] = link;
                }
            }
            removed.AddRange(_links.Values.Where(l => !links.ContainsKey(l.Peer)));
            UpdateGatewayRoute(table, routes, self is null ? 0 : AddressPool.ToUInt32(self.Address));
            _links = links;
            _routes = routes;
            _linksChanged.TrySetResult();
            _linksChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        await Task.WhenAll(removed.Select(l => l.DisposeAsync().AsTask())).ConfigureAwait(false);
        Volatile.Write(ref _table, table);
        VpnLog.TableApplied(Logger, table.Version, table.Members.Count, self?.Address.ToString() ?? "(none)");
        if (self is not null && _deviceLoop.IsCompleted && !Stopping.IsCancellationRequested)
        {
            // A dedicated thread: a TUN device's read blocks in the kernel.
            _deviceLoop = Task.Factory.StartNew(() => DeviceLoopAsync(Stopping.Token), CancellationToken.None,
                TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        }
        RoutingTableChanged?.Invoke(this, table);
    }

    private protected bool ReachesCoordinatorOverLoopback()
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
}
