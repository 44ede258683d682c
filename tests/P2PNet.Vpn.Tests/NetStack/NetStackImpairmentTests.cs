using System.Net;

namespace P2PNet.Vpn.Tests.NetStack;

/// <summary>The kernel and the stack over a TUN with netem-style impairments in both directions (applied between the TUN
/// and the stack by <see cref="ImpairedPacketDevice"/>: this kernel has no sch_netem): every byte arrives intact each way.</summary>
[Collection(KernelTestGroup.Name)]
public class NetStackImpairmentTests
{
    public static TheoryData<string> Impairments => ["loss 1%", "loss 5%", "reordering", "duplication", "50 ms delay"];

    private static Impairment For(string name) => name switch
    {
        "loss 1%" => new Impairment(Loss: 0.01),
        "loss 5%" => new Impairment(Loss: 0.05),
        "reordering" => new Impairment(Delay: TimeSpan.FromMilliseconds(5), Reorder: 0.25),
        "duplication" => new Impairment(Duplicate: 0.05),
        "50 ms delay" => new Impairment(Delay: TimeSpan.FromMilliseconds(50)),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(Impairments))]
    public async Task TransfersBothWays_ArriveIntact_UnderImpairment(string name)
    {
        var impairment = For(name);
        await using var lab = await NetStackLab.CreateAsync(impairment: impairment, seed: name.Length);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        using var listener = lab.Stack.ListenTcp(5000);
        using var kernel = lab.KernelSocket();
        await kernel.ConnectAsync(new IPEndPoint(NetStackLab.StackAddress, 5000), cts.Token);
        await using var connection = await listener.AcceptAsync(cts.Token);
        await NetStackTransfer.BothWaysAsync(kernel, connection, 8L << 20, cts.Token);
        var statistics = connection.GetStatistics();
        if (impairment.Loss > 0)
        {
            Assert.True(statistics.Retransmits > 0, "the stack lost segments and had to resend some");
            // The kernel recovered its own losses with the SACK blocks the stack sent (RFC 2018 in use both ways).
            string nstat = await lab.RunAsync(cts.Token, "nstat", "-asz", "TcpExtTCPSackRecovery");
            long recoveries = long.Parse(nstat.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Single(l => l.StartsWith("TcpExtTCPSackRecovery", StringComparison.Ordinal))
                .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(recoveries > 0, nstat);
        }
    }
}
