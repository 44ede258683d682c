using Google.Protobuf;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Multiformats;
using P2PNet.Protocols.Nat;
using P2PNet.Protocols.Nat.Protos;
using P2PNet.Testing;

namespace P2PNet.Core.Tests.NatTraversal;

/// <summary>AutoNAT v2 and v1 between two hosts on loopback (<c>AllowPrivateAddresses</c>, as labs use): the nonce
/// proves a dial-back, the amplification guard makes a client pay before a third-party address is dialed, and hostile
/// requests are refused while the service keeps serving.</summary>
public sealed class AutoNatTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task V2Probe_ConfirmsAListenAddressByTheNonce_RefutesAClosedPort_AndRaisesReachability()
    {
        await using var world = await World.StartAsync();
        var events = new List<Reachability>();
        using var subscription = world.Client.Events.Subscribe<LocalReachabilityChanged>(e => { lock (events) { events.Add(e.Reachability); } });

        Assert.True(await world.AutoNat.ProbeAsync(world.Server.PeerId, world.ClientAddress).WaitAsync(Timeout));
        Assert.Equal(1, world.Service.DialBacks);
        Assert.Equal(Reachability.Public, world.Client.Reachability);
        lock (events)
        {
            Assert.Equal([Reachability.Public], events);
        }

        var closed = Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{ClosedPort()}");
        Assert.False(await world.AutoNat.ProbeAsync(world.Server.PeerId, closed).WaitAsync(Timeout));
        Assert.False(world.AutoNat.Verdicts[closed]);
        Assert.Equal(Reachability.Public, world.Client.Reachability); // one reachable address is enough
    }

    [Fact]
    public async Task V2Request_ForAnotherIp_AsksForDialData_AndDialsOnlyOncePaid()
    {
        await using var world = await World.StartAsync();
        // 127.0.0.2 is not the IP the client speaks from (127.0.0.1): a third party, as far as the server can tell.
        var thirdParty = Multiaddr.Parse($"/ip4/127.0.0.2/tcp/{ClosedPort()}");

        await using (var unpaid = await world.OpenAsync(NatProtocols.AutoNatV2DialRequest))
        {
            await WriteAsync(unpaid, new PbAutoNatV2 { DialRequest = Request(1, thirdParty) });
            var ask = await ReadAsync(unpaid);
            Assert.Equal(0u, ask.DialDataRequest.AddrIdx);
            Assert.InRange(ask.DialDataRequest.NumBytes, 30_000ul, 100_000ul);
            unpaid.Abort(); // we decline to pay
        }
        await Task.Delay(300);
        Assert.Equal(0, world.Service.DialBacks);

        await using (var paid = await world.OpenAsync(NatProtocols.AutoNatV2DialRequest))
        {
            await WriteAsync(paid, new PbAutoNatV2 { DialRequest = Request(2, thirdParty) });
            var ask = await ReadAsync(paid);
            var chunk = new PbAutoNatV2 { DialDataResponse = new PbDialDataResponse { Data = ByteString.CopyFrom(new byte[4096]) } };
            for (ulong sent = 0; sent < ask.DialDataRequest.NumBytes; sent += 4096)
            {
                await WriteAsync(paid, chunk);
            }
            var response = await ReadAsync(paid);
            Assert.Equal(PbDialResponse.Types.ResponseStatus.Ok, response.DialResponse.Status);
            Assert.Equal(PbDialStatus.EDialError, response.DialResponse.DialStatus); // nobody listens there
        }
        Assert.Equal(1, world.Service.DialBacks);
    }

    [Fact]
    public async Task HostileRequests_AreRefused_AndTheServiceKeepsServing()
    {
        await using var world = await World.StartAsync();

        // A 1 MiB length prefix: the stream is reset before a byte of the body is read.
        await using (var oversized = await world.OpenAsync(NatProtocols.AutoNatV2DialRequest))
        {
            await oversized.WriteAsync(new byte[] { 0x80, 0x80, 0x40, 1, 2, 3 }, completeWrites: false).AsTask().WaitAsync(Timeout);
            await Assert.ThrowsAnyAsync<Exception>(() => ReadAsync(oversized));
        }
        // A response where a request belongs.
        await using (var wrongType = await world.OpenAsync(NatProtocols.AutoNatV2DialRequest))
        {
            await WriteAsync(wrongType, new PbAutoNatV2 { DialResponse = new PbDialResponse() });
            await Assert.ThrowsAnyAsync<Exception>(() => ReadAsync(wrongType));
        }
        // v1: garbage, and a request naming another peer, are answered E_BAD_REQUEST.
        await using (var garbage = await world.OpenAsync(NatProtocols.AutoNatV1))
        {
            await garbage.WriteAsync(new byte[] { 3, 0xFF, 0xFF, 0xFF }, completeWrites: false).AsTask().WaitAsync(Timeout);
            Assert.Equal(PbAutoNatV1.Types.ResponseStatus.EBadRequest, (await ReadV1Async(garbage)).DialResponse.Status);
        }
        await using (var impostor = await world.OpenAsync(NatProtocols.AutoNatV1))
        {
            var info = new PbAutoNatV1.Types.PeerInfo { Id = ByteString.CopyFrom(world.Server.PeerId.Bytes) };
            info.Addrs.Add(ByteString.CopyFrom(world.ClientAddress.ToBytes()));
            await WriteAsync(impostor, new PbAutoNatV1 { Type = PbAutoNatV1.Types.MessageType.Dial, Dial = new PbAutoNatV1.Types.Dial { Peer = info } });
            Assert.Equal(PbAutoNatV1.Types.ResponseStatus.EBadRequest, (await ReadV1Async(impostor)).DialResponse.Status);
        }
        Assert.Equal(0, world.Service.DialBacks);

        // An honest v1 request still gets its dial-back.
        await using (var honest = await world.OpenAsync(NatProtocols.AutoNatV1))
        {
            var info = new PbAutoNatV1.Types.PeerInfo { Id = ByteString.CopyFrom(world.Client.PeerId.Bytes) };
            info.Addrs.Add(ByteString.CopyFrom(world.ClientAddress.ToBytes()));
            await WriteAsync(honest, new PbAutoNatV1 { Type = PbAutoNatV1.Types.MessageType.Dial, Dial = new PbAutoNatV1.Types.Dial { Peer = info } });
            var answer = await ReadV1Async(honest);
            Assert.Equal(PbAutoNatV1.Types.ResponseStatus.Ok, answer.DialResponse.Status);
            Assert.Equal(world.ClientAddress, Multiaddr.FromBytes(answer.DialResponse.Addr.Span));
        }
        Assert.True(world.Server.GetConnections(world.Client.PeerId).Count >= 1, "the request's own connection stays open");
    }

    [Fact]
    public async Task RequestsBeyondThePerPeerRate_AreRejected()
    {
        await using var world = await World.StartAsync(o => o.MaxRequestsPerPeerPerMinute = 2);
        for (int i = 0; i < 2; i++)
        {
            Assert.True(await world.AutoNat.ProbeAsync(world.Server.PeerId, world.ClientAddress).WaitAsync(Timeout));
        }
        await using var third = await world.OpenAsync(NatProtocols.AutoNatV2DialRequest);
        await WriteAsync(third, new PbAutoNatV2 { DialRequest = Request(3, world.ClientAddress) });
        Assert.Equal(PbDialResponse.Types.ResponseStatus.ERequestRejected, (await ReadAsync(third)).DialResponse.Status);
        Assert.Equal(2, world.Service.DialBacks);
    }

    [Fact]
    public async Task AHolePunchStream_OnADirectConnection_IsReset()
    {
        await using var world = await World.StartAsync();
        await using var service = new HolePunchService(world.Server);
        service.Start();
        await using var stream = await world.OpenAsync(NatProtocols.HolePunch);
        byte[]? reply = null;
        try
        {
            await WriteAsync(stream, new PbHolePunch { Type = PbHolePunch.Types.Type.Connect });
            reply = await LengthPrefixed.ReadAsync(stream.Input, 4096).AsTask().WaitAsync(Timeout);
        }
        catch (IOException)
        {
            // Reset (StreamResetException is an IOException): before our CONNECT was flushed, the write sees it; after, the read.
        }
        Assert.Null(reply); // no CONNECT back: reset, or ended without one; a timeout fails the test
    }

    private static PbDialRequest Request(ulong nonce, params Multiaddr[] addresses)
    {
        var request = new PbDialRequest { Nonce = nonce };
        request.Addrs.AddRange(addresses.Select(a => ByteString.CopyFrom(a.ToBytes())));
        return request;
    }

    private static async Task WriteAsync(P2PStream stream, IMessage message) =>
        await LengthPrefixed.WriteAsync(stream.Output, message.ToByteArray()).AsTask().WaitAsync(Timeout);

    private static async Task<PbAutoNatV2> ReadAsync(P2PStream stream)
    {
        byte[]? bytes = await LengthPrefixed.ReadAsync(stream.Input, 8192).AsTask().WaitAsync(Timeout);
        return PbAutoNatV2.Parser.ParseFrom(bytes ?? throw new IOException("the stream ended"));
    }

    private static async Task<PbAutoNatV1> ReadV1Async(P2PStream stream)
    {
        byte[]? bytes = await LengthPrefixed.ReadAsync(stream.Input, 8192).AsTask().WaitAsync(Timeout);
        return PbAutoNatV1.Parser.ParseFrom(bytes ?? throw new IOException("the stream ended"));
    }

    private static int ClosedPort()
    {
        using var socket = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        socket.Start();
        return ((System.Net.IPEndPoint)socket.LocalEndpoint).Port;
    }

    /// <summary>Host 0 serves AutoNAT; host 1 is the client, connected and identified.</summary>
    private sealed class World : IAsyncDisposable
    {
        private TestHostGroup _group = null!;

        public P2PHost Server => _group[0];

        public P2PHost Client => _group[1];

        public AutoNatService Service { get; private set; } = null!;

        public AutoNatClient AutoNat { get; private set; } = null!;

        public Multiaddr ClientAddress => Client.ListenAddresses.First(a => !a.Contains(MultiaddrProtocol.P2pCircuit)).WithoutPeerId();

        public static async Task<World> StartAsync(Action<AutoNatServiceOptions>? configure = null)
        {
            var world = new World { _group = await TestHostGroup.StartAsync(2) };
            var options = new AutoNatServiceOptions { AllowPrivateAddresses = true };
            configure?.Invoke(options);
            world.Service = new AutoNatService(world.Server, options);
            world.Service.Start();
            // The tests probe by hand.
            world.AutoNat = new AutoNatClient(world.Client, new AutoNatClientOptions
            {
                AllowPrivateAddresses = true,
                Confirmations = 1,
                BackgroundProbing = false,
            });
            await world.Client.DialAsync(world.Server.ListenAddresses[0]).AsTask().WaitAsync(Timeout);
            await Conditions.WaitUntilAsync(() => world.Client.PeerStore.Get(world.Server.PeerId)?.Protocols.Contains(NatProtocols.AutoNatV2DialRequest) == true,
                Timeout, "identify of the server");
            world.AutoNat.Start();
            return world;
        }

        public async Task<P2PStream> OpenAsync(string protocol)
        {
            var connection = await Client.DialAsync(Server.PeerId).AsTask().WaitAsync(Timeout);
            return await connection.OpenStreamAsync(protocol).AsTask().WaitAsync(Timeout);
        }

        public async ValueTask DisposeAsync()
        {
            await AutoNat.DisposeAsync();
            await Service.DisposeAsync();
            await _group.DisposeAsync();
        }
    }
}
