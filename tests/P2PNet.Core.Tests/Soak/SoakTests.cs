using P2PNet.Testing;
using P2PNet.Testing.Soak;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Soak;

/// <summary>The short variant of <c>bench/soak.sh</c>: every fault kind at least once while traffic flows.</summary>
[Collection(SoakGroup.Name)]
public class SoakTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ShortSoak_WithEveryFaultKind_LosesAndCorruptsNoMessage_AndEveryNodeRecovers()
    {
        var options = new SoakOptions
        {
            InProcessNodes = 5,
            ProcessNodes = 2,
            Duration = TimeSpan.FromSeconds(20),
            FaultInterval = TimeSpan.FromMilliseconds(500),
            Senders = 6,
            MaxMessageBytes = 32 * 1024,
            RecoveryWindow = TimeSpan.FromSeconds(60),
            Log = output.WriteLine,
        };
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var report = await SoakRun.RunAsync(options, cts.Token);
        output.WriteLine(report.ToTable());

        Assert.All(Enum.GetValues<SoakFault>(), kind => Assert.True(report.Faults[kind] >= 1, $"{kind} was never injected"));
        Assert.True(report.MessagesSent > 50, $"only {report.MessagesSent} messages were sent");
        Assert.Equal(0, report.MessagesCorrupted);
        Assert.Equal(0, report.MessagesLost);
        Assert.Empty(report.Unrecovered);
    }
}

/// <summary>The soak starts processes and floods sockets: it runs alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SoakGroup
{
    /// <summary>The collection's name.</summary>
    public const string Name = "soak";
}
