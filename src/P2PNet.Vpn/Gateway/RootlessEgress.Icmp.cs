using System.Buffers;
using System.Net.NetworkInformation;
using P2PNet.Vpn.Gateway.Internal;
using P2PNet.Vpn.Internal;
using P2PNet.Vpn.NetStack.Internal;

namespace P2PNet.Vpn.Gateway;

// ICMP echo: a request to an Internet host becomes a Ping (bounded concurrency); its reply an echo reply from that host.
public sealed partial class RootlessEgress
{
    private int _pingsInFlight;
    private long _pingsAnswered;
    private long _pingsUnanswered;

    private async ValueTask ReceiveIcmpAsync(Memory<byte> packet, IpPacket ip, CancellationToken cancellationToken)
    {
        var icmp = packet.Slice(ip.HeaderLength, ip.PayloadLength);
        if (icmp.Length < 8)
        {
            Drop(RootlessEgressDropReason.Malformed);
            return;
        }
        if (Segmenter.Finish(Segmenter.Sum(icmp.Span)) != 0)
        {
            Drop(RootlessEgressDropReason.BadChecksum);
            return;
        }
        if (icmp.Span[0] != 8 || icmp.Span[1] != 0)
        {
            Drop(RootlessEgressDropReason.UnsupportedProtocol); // only echo requests are forwarded
            return;
        }
        if (ip.Destination == _localAddress)
        {
            await SendEchoReplyAsync(ip.Destination, ip.Source, icmp, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (Interlocked.Increment(ref _pingsInFlight) > Options.MaxConcurrentPings)
        {
            Interlocked.Decrement(ref _pingsInFlight);
            Drop(RootlessEgressDropReason.PingLimit);
            return;
        }
        byte[] request = icmp.ToArray(); // outlives the read buffer; bounded by MaxConcurrentPings
        _tasks.Track(Task.Run(() => PingAsync(ip.Source, ip.Destination, request), CancellationToken.None));
    }

    /// <summary>Pings the destination; its reply becomes an echo reply from it to the member.</summary>
    private async Task PingAsync(uint member, uint destination, byte[] request)
    {
        var token = _stopping.Token;
        string outcome;
        try
        {
            using var ping = new Ping();
            var reply = await ping.SendPingAsync(FlowKey.ToAddress(destination), Options.PingTimeout, request[8..], options: null, token)
                .ConfigureAwait(false);
            if (reply.Status == IPStatus.Success)
            {
                Interlocked.Increment(ref _pingsAnswered);
                await SendEchoReplyAsync(destination, member, request, token).ConfigureAwait(false);
                return;
            }
            outcome = reply.Status.ToString();
        }
        catch (OperationCanceledException)
        {
            outcome = "egress stopping";
        }
#pragma warning disable CA1031 // a ping the system cannot send (no permission, no route) is an unanswered ping
        catch (Exception e)
#pragma warning restore CA1031
        {
            outcome = e.InnerException?.Message ?? e.Message;
        }
        finally
        {
            Interlocked.Decrement(ref _pingsInFlight);
        }
        Interlocked.Increment(ref _pingsUnanswered);
        EgressLog.PingUnanswered(_logger, FlowKey.ToAddress(destination), outcome);
    }

    private async ValueTask SendEchoReplyAsync(uint source, uint member, ReadOnlyMemory<byte> request, CancellationToken cancellationToken)
    {
        int length = EgressPackets.Ipv4HeaderLength + request.Length;
        byte[] packet = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            EgressPackets.WriteEchoReply(packet, source, member, request.Span, NextIpId());
            await WriteFragmentedAsync(packet, length, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(packet);
        }
    }
}
