using System.Buffers;
using System.Net.Sockets;

namespace P2PNet.Vpn.Gateway.Internal;

/// <summary>One member's UDP flow through the egress: an OS socket connected to the destination (so only its replies
/// come back, and the flow has a source port of its own); datagrams from the destination go to the member as UDP from
/// the destination's address and port. Ends after an idle timeout or on a socket error.</summary>
internal sealed class UdpEgressFlow : IDisposable
{
    // The largest UDP payload an IPv4 datagram carries (65535 − 20 − 8); larger replies are fragmented by the egress.
    private const int MaxPayload = 65507;

    private readonly RootlessEgress _egress;
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private long _lastActivity;

    private UdpEgressFlow(RootlessEgress egress, FlowKey key, Socket socket)
    {
        _egress = egress;
        Key = key;
        _socket = socket;
        _lastActivity = egress.Time.GetTimestamp();
    }

    public FlowKey Key { get; }

    /// <summary>How long no datagram moved either way.</summary>
    public TimeSpan Idle => _egress.Time.GetElapsedTime(Interlocked.Read(ref _lastActivity));

    /// <summary>Opens the socket connected to the destination; throws <see cref="SocketException"/> if the OS refuses.</summary>
    public static UdpEgressFlow Open(RootlessEgress egress, FlowKey key)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Connect(key.DestinationEndPoint);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new UdpEgressFlow(egress, key, socket);
    }

    /// <summary>Sends a member's datagram to the destination.</summary>
    public async ValueTask SendAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        Touch();
        await _socket.SendAsync(payload, SocketFlags.None, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Receives the destination's datagrams until the flow is stopped or the socket fails; never throws.</summary>
    public async Task ReceiveLoopAsync()
    {
        string outcome = "closed";
        byte[] buffer = ArrayPool<byte>.Shared.Rent(MaxPayload);
        try
        {
            while (true)
            {
                int read;
                try
                {
                    read = await _socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token).ConfigureAwait(false);
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
                {
                    // An ICMP port unreachable for an earlier datagram (Linux reports it on the connected socket): the
                    // member gets one too, so its application fails fast as it would talking to the host directly.
                    await _egress.DeliverPortUnreachableAsync(Key, _stop.Token).ConfigureAwait(false);
                    continue;
                }
                Touch();
                await _egress.DeliverUdpAsync(Key, buffer.AsMemory(0, read), _stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            outcome = "idle or stopping";
        }
#pragma warning disable CA1031 // a socket that fails ends this flow, not the egress
        catch (Exception e)
#pragma warning restore CA1031
        {
            outcome = "failed: " + e.Message;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            _egress.UdpFlowEnded(this, outcome);
        }
    }

    /// <summary>Stops the receive loop and closes the socket. Safe to call more than once.</summary>
    public void Dispose()
    {
        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
        _socket.Dispose();
    }

    private void Touch() => Interlocked.Exchange(ref _lastActivity, _egress.Time.GetTimestamp());
}
