using System.Globalization;
using System.Text;

namespace P2PNet.Vpn.Gateway;

/// <summary>A snapshot of a <see cref="RootlessEgress"/>'s counters (<see cref="RootlessEgress.GetStatistics"/>).</summary>
/// <param name="PacketsReceived">Packets read from the VPN.</param>
/// <param name="TcpFlowsOpen">TCP flows connecting or open now.</param>
/// <param name="TcpFlowsTotal">TCP flows started (a SYN that led to a connect attempt).</param>
/// <param name="TcpConnectFailures">Connects that failed (refused, unreachable, timed out): each answered with RST.</param>
/// <param name="TcpDestinations">Destination addresses with a user-space stack now.</param>
/// <param name="UdpFlowsOpen">UDP flows open now.</param>
/// <param name="UdpFlowsTotal">UDP flows opened.</param>
/// <param name="PingsAnswered">Echo requests forwarded whose host answered (the reply went to the member).</param>
/// <param name="PingsUnanswered">Echo requests forwarded that got no reply in time.</param>
/// <param name="BytesToInternet">TCP and UDP payload bytes sent to Internet hosts.</param>
/// <param name="BytesFromInternet">TCP and UDP payload bytes received from Internet hosts.</param>
/// <param name="Drops">Packets dropped or refused, by reason.</param>
public sealed record RootlessEgressStatistics(
    long PacketsReceived,
    long TcpFlowsOpen,
    long TcpFlowsTotal,
    long TcpConnectFailures,
    long TcpDestinations,
    long UdpFlowsOpen,
    long UdpFlowsTotal,
    long PingsAnswered,
    long PingsUnanswered,
    long BytesToInternet,
    long BytesFromInternet,
    IReadOnlyDictionary<RootlessEgressDropReason, long> Drops)
{
    /// <summary>Drops for <paramref name="reason"/> (0 when none).</summary>
    public long DropCount(RootlessEgressDropReason reason) => Drops.TryGetValue(reason, out long n) ? n : 0;

    /// <summary>All drops, whatever the reason.</summary>
    public long TotalDrops => Drops.Values.Sum();

    // The record's ToString, with the drops spelled out instead of the dictionary's type name.
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Style", "IDE0051", Justification = "The compiler's ToString of the record calls it.")]
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append(CultureInfo.InvariantCulture,
            $"PacketsReceived = {PacketsReceived}, TcpFlowsOpen = {TcpFlowsOpen}, TcpFlowsTotal = {TcpFlowsTotal}, ")
            .Append(CultureInfo.InvariantCulture,
            $"TcpConnectFailures = {TcpConnectFailures}, TcpDestinations = {TcpDestinations}, UdpFlowsOpen = {UdpFlowsOpen}, ")
            .Append(CultureInfo.InvariantCulture,
            $"UdpFlowsTotal = {UdpFlowsTotal}, PingsAnswered = {PingsAnswered}, PingsUnanswered = {PingsUnanswered}, ")
            .Append(CultureInfo.InvariantCulture,
            $"BytesToInternet = {BytesToInternet}, BytesFromInternet = {BytesFromInternet}, Drops = {{ ")
            .AppendJoin(", ", Drops.OrderBy(d => d.Key).Select(d => string.Create(CultureInfo.InvariantCulture, $"{d.Key} = {d.Value}")))
            .Append(" }");
        return true;
    }
}
