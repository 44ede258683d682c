using System.Buffers;
using System.Net.Sockets;
using P2PNet.Vpn.NetStack;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.Gateway.Internal;

/// <summary>One member's TCP connection through the egress: the OS socket to the destination is connected first, then
/// the member's SYN (held by the destination stack's gate) is answered — SYN-ACK when the connect succeeded, RST when it
/// failed — and bytes are pumped both ways with half-close (the member's FIN shuts the socket's send side; the
/// destination's FIN completes the member connection's writes). Any error or an idle timeout resets both sides.</summary>
internal sealed class TcpEgressFlow : IDisposable
{
    // One copy buffer per direction, rented only while bytes are there (zero-byte reads wait without one).
    private const int CopyBufferSize = 64 * 1024;

    private const string Closed = "closed";

    private readonly RootlessEgress _egress;
    private readonly DestinationStack _destination;
    private readonly TcpSegment _syn;
    private readonly CancellationTokenSource _abort = new();
    private long _lastActivity;

    public TcpEgressFlow(RootlessEgress egress, FlowKey key, DestinationStack destination, in TcpSegment syn)
    {
        _egress = egress;
        Key = key;
        _destination = destination;
        _syn = syn;
        _lastActivity = egress.Time.GetTimestamp();
    }

    public FlowKey Key { get; }

    public DestinationStack Destination => _destination;

    /// <summary>Whether the connect succeeded and the member's side was accepted (under the egress's lock).</summary>
    public bool IsOpen { get; set; }

    /// <summary>How long no byte moved.</summary>
    public TimeSpan Idle => _egress.Time.GetElapsedTime(Interlocked.Read(ref _lastActivity));

    /// <summary>Resets both sides (idle timeout, shutdown). Safe to call more than once, from any thread.</summary>
    public void Abort()
    {
        try
        {
            _abort.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // the flow has ended already
        }
    }

    /// <summary>Lets go of the flow's cancellation source (<see cref="RunAsync"/> does when it ends).</summary>
    public void Dispose() => _abort.Dispose();

    /// <summary>Runs the flow to its end; never throws.</summary>
    public async Task RunAsync()
    {
        string outcome = Closed;
        bool graceful = false;
        Socket? socket = null;
        TcpConnection? connection = null;
        try
        {
            socket = await ConnectAsync().ConfigureAwait(false);
            if (socket is null)
            {
                outcome = "connect failed";
                return;
            }
            connection = _destination.Stack.AcceptSyn(_destination.Listener, Key.Member, _syn);
            if (connection is null)
            {
                outcome = "the member's side could not be accepted";
                return;
            }
            _egress.FlowOpened(this);
            try
            {
                await connection.Connected.WaitAsync(_egress.Options.ConnectTimeout, _egress.Time, _abort.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is TimeoutException or OperationCanceledException or TcpConnectionException)
            {
                outcome = "the member did not complete the handshake";
                connection.Abort();
                return;
            }
            outcome = await PumpAsync(socket, connection).ConfigureAwait(false);
            graceful = outcome == Closed;
        }
#pragma warning disable CA1031 // a flow that trips a bug ends (both sides reset); the egress goes on
        catch (Exception e)
#pragma warning restore CA1031
        {
            outcome = "failed: " + e.Message;
            connection?.Abort();
        }
        finally
        {
            // Only a flow both sides closed ends with FIN; any other end (the member never finished its handshake, the
            // egress stopped, a failure) resets the destination, as the member's side is reset.
            if (graceful)
            {
                socket?.Dispose();
            }
            else
            {
                ResetSocket(socket);
            }
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
            _egress.FlowEnded(this, outcome);
            Dispose();
        }
    }

    /// <summary>Connects the OS socket; on failure answers the member's SYN with RST and returns null.</summary>
    private async Task<Socket?> ConnectAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = new CancellationTokenSource(_egress.Options.ConnectTimeout, _egress.Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _abort.Token);
        string reason;
        try
        {
            await socket.ConnectAsync(Key.DestinationEndPoint, linked.Token).ConfigureAwait(false);
            return socket;
        }
        catch (SocketException e)
        {
            reason = e.SocketErrorCode.ToString();
        }
        catch (OperationCanceledException)
        {
            reason = _abort.IsCancellationRequested ? "egress stopping" : "timed out";
        }
        socket.Dispose();
        _egress.CountConnectFailure(Key, reason);
        _destination.Stack.RefuseSyn(Key.Member, _syn);
        return null;
    }

    /// <summary>Pumps both directions until both ended (graceful) or one failed (then both sides are reset).</summary>
    private async Task<string> PumpAsync(Socket socket, TcpConnection connection)
    {
        var token = _abort.Token;
        var toInternet = ToInternetAsync(socket, connection, token);
        var toMember = ToMemberAsync(socket, connection, token);
        var first = await Task.WhenAny(toInternet, toMember).ConfigureAwait(false);
        string outcome = Closed;
        if (!first.IsCompletedSuccessfully)
        {
            outcome = token.IsCancellationRequested ? "reset (idle or stopping)" : "reset: " + first.Exception?.InnerException?.Message;
            Fail(socket, connection);
        }
        try
        {
            await Task.WhenAll(toInternet, toMember).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // the other direction's failure after a reset is expected; the outcome says why
        catch (Exception e)
#pragma warning restore CA1031
        {
            if (outcome == Closed)
            {
                outcome = token.IsCancellationRequested ? "reset (idle or stopping)" : "reset: " + e.Message;
            }
            Fail(socket, connection);
        }
        return outcome;
    }

    private void Fail(Socket socket, TcpConnection connection)
    {
        Abort();
        connection.Abort();
        ResetSocket(socket);
    }

    // Closing with a zero linger sends RST, as a NAT's reset of the flow does.
    private static void ResetSocket(Socket? socket)
    {
        if (socket is null)
        {
            return;
        }
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        socket.Dispose();
    }

    /// <summary>Member → Internet: the member's FIN shuts down the socket's send side.</summary>
    private async Task ToInternetAsync(Socket socket, TcpConnection connection, CancellationToken cancellationToken)
    {
        while (true)
        {
            await connection.ReadAsync(Memory<byte>.Empty, cancellationToken).ConfigureAwait(false);
            byte[] buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
            try
            {
                int read = await connection.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    socket.Shutdown(SocketShutdown.Send);
                    return;
                }
                Touch();
                _egress.CountBytesOut(read);
                await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>Internet → member: the destination's FIN completes the member connection's writes (FIN after the data).</summary>
    private async Task ToMemberAsync(Socket socket, TcpConnection connection, CancellationToken cancellationToken)
    {
        while (true)
        {
            await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            byte[] buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
            try
            {
                int read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    connection.CompleteWrites();
                    return;
                }
                Touch();
                _egress.CountBytesIn(read);
                await connection.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private void Touch() => Interlocked.Exchange(ref _lastActivity, _egress.Time.GetTimestamp());
}
