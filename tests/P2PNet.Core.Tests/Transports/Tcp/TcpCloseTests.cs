using System.Net;
using System.Net.Sockets;
using P2PNet.Multiformats;
using P2PNet.Transports;
using P2PNet.Transports.Tcp;

namespace P2PNet.Core.Tests.Transports;

/// <summary>
/// Closing a TCP connection whose remote still sends (its last frames crossed our FIN: an identify answer, a GoAway)
/// must not reset it. A socket closed with unread bytes makes the kernel answer with RST, and the remote sees an error
/// where it should see a close. The remote here is a plain socket, so what it sees is the kernel's word.
/// </summary>
public sealed class TcpCloseTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Dispose_WhileTheRemoteStillSends_ReadsToItsEndInsteadOfResettingIt()
    {
        var (connection, accepted) = await ConnectToPlainSocketAsync();
        using var remote = accepted;
        Task disposing = connection.DisposeAsync().AsTask();

        // Our FIN arrives first (nothing was written); the remote then sends twice. Against a closed socket the first
        // send draws a reset and the second fails with it.
        byte[] buffer = new byte[64];
        Assert.Equal(0, await remote.ReceiveAsync(buffer).WaitAsync(Step));
        await remote.SendAsync(new byte[1000]).WaitAsync(Step);
        await Task.Delay(50);
        var secondSend = await Record.ExceptionAsync(() => remote.SendAsync(new byte[1000]).WaitAsync(Step));
        Assert.Null(secondSend);

        // The remote closes too; our side has read everything up to its FIN and closes without a reset.
        remote.Shutdown(SocketShutdown.Send);
        await disposing.WaitAsync(Step);
        var afterClose = await Record.ExceptionAsync(() => remote.ReceiveAsync(buffer).WaitAsync(Step));
        Assert.Null(afterClose);
    }

    [Fact]
    public async Task Dispose_WhenTheRemoteNeverCloses_EndsWithinTheGrace()
    {
        var (connection, accepted) = await ConnectToPlainSocketAsync();
        using var remote = accepted;
        await remote.SendAsync(new byte[100]).WaitAsync(Step); // unread by us, and no FIN ever

        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        await connection.DisposeAsync().AsTask().WaitAsync(Step);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"disposal took {stopwatch.Elapsed}");
    }

    /// <summary>A connection dialed by <see cref="TcpTransport"/>, and the plain socket that accepted it.</summary>
    private static async Task<(TransportConnection Connection, Socket Remote)> ConnectToPlainSocketAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var connection = await new TcpTransport().DialAsync(Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{port}")).AsTask().WaitAsync(Step);
        return (connection, await listener.AcceptAsync().WaitAsync(Step));
    }
}
