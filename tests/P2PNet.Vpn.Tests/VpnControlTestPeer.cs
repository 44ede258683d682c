using System.Runtime.CompilerServices;
using Google.Protobuf;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Multiformats;
using P2PNet.Vpn.Protos;

namespace P2PNet.Vpn.Tests;

/// <summary>Speaks /p2pnet/vpn/control/1.0.0/&lt;vpn id&gt; by hand from a test host: raw joins and pushes, and a member whose control
/// handler refuses a chosen number of streams before serving them normally.</summary>
internal static class VpnControlTestPeer
{
    /// <summary>Sends one control message from <paramref name="from"/> to <paramref name="to"/> and returns the answer (null when none).</summary>
    public static async Task<ControlMessage?> ExchangeAsync(P2PHost from, VpnEndpoint to, ControlMessage message, CancellationToken ct)
    {
        var stream = await from.OpenStreamAsync(to.Host.PeerId, to.ControlProtocol, ct);
        await using (stream)
        {
            await LengthPrefixed.WriteAsync(stream.Output, message.ToByteArray(), ct);
            await stream.CompleteWritesAsync(ct);
            byte[]? answer = await LengthPrefixed.ReadAsync(stream.Input, 1024 * 1024, ct);
            return answer is null ? null : ControlMessage.Parser.ParseFrom(answer);
        }
    }

    /// <summary>A join request advertising <paramref name="addresses"/>.</summary>
    public static ControlMessage Join(IEnumerable<Multiaddr> addresses)
    {
        var join = new JoinRequest();
        foreach (var address in addresses)
        {
            join.Addresses.Add(ByteString.CopyFrom(address.ToBytes()));
        }
        return new ControlMessage { Join = join };
    }

    /// <summary>Makes <paramref name="vpn"/>'s host reset the next <paramref name="refusals"/> control streams (a push
    /// that fails), then serve them as usual. Returns a counter of the streams refused.</summary>
    public static StrongBox<int> RefuseControlStreams(VpnEndpoint vpn, int refusals)
    {
        var refused = new StrongBox<int>();
        vpn.Host.SetStreamHandler(vpn.ControlProtocol, async (stream, ct) =>
        {
            if (Interlocked.Increment(ref refused.Value) <= refusals)
            {
                stream.Abort();
                return;
            }
            Interlocked.Decrement(ref refused.Value);
            await vpn.HandleControlAsync(stream, ct);
        });
        return refused;
    }
}
