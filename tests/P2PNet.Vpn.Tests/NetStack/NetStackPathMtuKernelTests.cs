using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using P2PNet.Testing;
using P2PNet.Testing.Networking;
using P2PNet.Vpn.NetStack;

namespace P2PNet.Vpn.Tests.NetStack;

/// <summary>ICMP errors between the stack and the Linux kernel: a kernel router's "fragmentation needed" shrinks the
/// stack's segments mid-transfer (path MTU discovery, RFC 1191); the stack's own "fragmentation needed" teaches the
/// kernel the stack's MTU; a firewall's port unreachable refuses the stack's connect at once. Root, as the other kernel tests.</summary>
[Collection(KernelTestGroup.Name)]
public class NetStackPathMtuKernelTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task ARouterWithASmallerMtuOnThePath_SendsFragmentationNeeded_AndTheStacksTransferShrinksToItAndArrivesIntact()
    {
        await using var lab = await NetStackLab.CreateAsync();
        using var cts = new CancellationTokenSource(Timeout);
        string far = await lab.AddRoutedHostAsync(linkMtu: 1280, cts.Token);
        using var listener = lab.Stack.ListenTcp(8080);
        using var client = NamespaceLab.CreateSocket(far);
        await client.ConnectAsync(new IPEndPoint(NetStackLab.StackAddress, 8080), cts.Token);
        await using var connection = await listener.AcceptAsync(cts.Token);
        Assert.True(connection.GetStatistics().SendMss > 1400); // the far kernel's MTU is 1500: it offers MSS 1460

        byte[] data = RandomNumberGenerator.GetBytes(8 << 20);
        var send = Task.Run(async () =>
        {
            await connection.WriteAsync(data, cts.Token);
            connection.CompleteWrites();
        }, cts.Token);
        byte[] received = await NetStackKernelTests.ReadToEndAsync(client, cts.Token);
        await send.WaitAsync(cts.Token);

        Assert.Equal(SHA256.HashData(data), SHA256.HashData(received));
        var statistics = connection.GetStatistics();
        Assert.Equal(1280, statistics.PathMtu);
        Assert.Equal(1280 - 40 - 12, statistics.SendMss); // timestamps are on with the kernel
    }

    [Fact]
    public async Task ADatagramTooBigForTheStacksLink_DrawsFragmentationNeeded_AndTheKernelLearnsTheStacksMtu()
    {
        await using var lab = await NetStackLab.CreateAsync(mtu: 1500, stackMtu: 1280);
        using var cts = new CancellationTokenSource(Timeout);
        using var udp = lab.Stack.BindUdp(5353);
        using var kernel = lab.KernelSocket(SocketType.Dgram, ProtocolType.Udp);
        kernel.DontFragment = true; // IP_PMTUDISC_DO: DF on, and EMSGSIZE once the route knows a smaller MTU
        await kernel.ConnectAsync(new IPEndPoint(NetStackLab.StackAddress, 5353), cts.Token);

        await kernel.SendAsync(new byte[1400], SocketFlags.None, cts.Token); // 1,428 bytes: fits the TUN, not the stack
        await Conditions.WaitUntilAsync(
            async ct => (await lab.RunAsync(ct, "ip", "route", "get", NetStackLab.StackAddress.ToString())).Contains("mtu 1280", StringComparison.Ordinal),
            Timeout, "the kernel's route to the stack did not learn MTU 1280", cts.Token);

        var tooBig = Assert.Throws<SocketException>(() => kernel.Send(new byte[1400]));
        Assert.Equal(SocketError.MessageSize, tooBig.SocketErrorCode);
        // The ICMP also left the connected socket its error (EMSGSIZE); reading SO_ERROR clears it.
        Assert.Equal(SocketError.MessageSize, (SocketError)(int)kernel.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!);
        await kernel.SendAsync(new byte[1200], SocketFlags.None, cts.Token);
        var datagram = await udp.ReceiveFromAsync(new byte[2048], cts.Token);
        Assert.Equal(1200, datagram.Length);
    }

    [Fact]
    public async Task AFirewallRejectingWithPortUnreachable_RefusesTheStacksConnectAtOnce_ThoughSomethingListensBehindIt()
    {
        using var setup = new CancellationTokenSource(Timeout);
        await NamespaceLab.RequireToolAsync("nft", "nftables", setup.Token);
        await using var lab = await NetStackLab.CreateAsync();
        using var cts = new CancellationTokenSource(Timeout);
        using var server = lab.KernelSocket();
        server.Bind(new IPEndPoint(NetStackLab.KernelAddress, 9999));
        server.Listen();
        await lab.RunAsync(cts.Token, "nft", "add", "table", "ip", "icmptest");
        await lab.RunAsync(cts.Token, "nft", "add", "chain", "ip", "icmptest", "input", "{ type filter hook input priority 0 ; }");
        await lab.RunAsync(cts.Token, "nft", "add", "rule", "ip", "icmptest", "input", "tcp", "dport", "9999", "reject", "with", "icmp", "type", "port-unreachable");

        // Without the ICMP the SYN would be retransmitted until the connect timed out (the listener never sees it).
        var refused = await Assert.ThrowsAsync<TcpConnectionException>(
            () => lab.Stack.ConnectTcpAsync(NetStackLab.KernelAddress, 9999, cts.Token).WaitAsync(TimeSpan.FromSeconds(5), cts.Token));
        Assert.Equal(TcpError.ConnectionRefused, refused.Error);
        Assert.Contains("ICMP", refused.Message, StringComparison.Ordinal);
    }
}
